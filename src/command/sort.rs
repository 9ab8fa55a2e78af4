//! SORT and SORT_RO: the elements of a list, set or sorted set, ordered
//! numerically or bytewise (ALPHA), by themselves or by the values of other
//! keys a BY pattern names, windowed by LIMIT, each replaced by the values
//! GET patterns name, and replied or stored as a list (STORE), as Redis 7.0
//! does it.
//!
//! This module owns the parsing of a request into a [`Sort`] (Redis's
//! order of checks and error texts) and its evaluation against a read view.
//! It must never write any key but STORE's destination, and never read a
//! key an op has not declared: a BY or GET pattern names keys only the data
//! knows, so a SORT with one says so ([`Sort::reads_other_keys`]), and is
//! run like KEYS (a read that [reads everything](super::op::ReadOp::reads_everything),
//! a STORE that [locks everything](super::op::WriteOp::locks_everything)).
//!
//! # What Redis does, and so do we
//!
//! - Options, in any order, the last of each winning: `ASC`, `DESC`,
//!   `ALPHA`, `LIMIT offset count`, `BY pattern`, `GET pattern` (several,
//!   in order), and `STORE destination` (SORT only: to SORT_RO it is a
//!   syntax error). Parsing stops at the first bad option: a word Redis
//!   does not know, or one without enough arguments after it, is a syntax
//!   error; a LIMIT number that is not an integer is "value is not an
//!   integer". Only then is the key looked up: WRONGTYPE unless it is a
//!   list, set or sorted set; a missing key is an empty list.
//! - Numeric order (the default) reads each weight as C's `strtod`
//!   ([`score`]); one that does not convert fails the whole command with
//!   "One or more scores can't be converted into double" (nothing stored).
//!   Equal scores are ordered by comparing the elements' bytes. ALPHA
//!   compares bytes instead. DESC reverses the comparison.
//! - A pattern names a key by putting the element in place of its first
//!   `*`; a `->field` after the `*` (with a field name) reads that hash
//!   field instead of a string. `GET #` is the element itself. A pattern
//!   without `*`, a missing key, or a key of the wrong type gives nil (for
//!   STORE, the empty string). A missing BY weight counts as 0 (numeric) or
//!   sorts first (ALPHA). Redis reads patterns as C strings: only the bytes
//!   before a NUL count when looking for `*`, `->` and `#`.
//! - `BY` a pattern without `*` (by convention `BY nosort`) means "do not
//!   sort" (and sticks, even if a later BY has a `*`): a list keeps its
//!   order, a sorted set its score order, either reversed by DESC. A set
//!   being stored is sorted ALPHA instead (Redis does this so replicas
//!   agree).
//! - LIMIT clamps as Redis does: a negative offset is 0, a negative count
//!   is "all the rest", an offset past the end gives nothing.
//! - STORE replaces the destination (any type, deadline dropped) with a
//!   list of the result and replies its length; an empty result deletes
//!   the destination.
//!
//! # Where we cannot be Redis
//!
//! - A set with `BY nosort` (not stored): Redis replies in its hash table's
//!   order, which no client can rely on (Redis itself sorts ALPHA instead
//!   in scripts and for STORE). We reply in our member order, which is
//!   bytewise — what ALPHA would give — and, like Redis, ignore DESC.
//! - Ties a comparison leaves (ALPHA with BY: equal or missing weights)
//!   keep the order we read the source in: list order, member order for a
//!   set or sorted set. Redis leaves them to its sort over its own order
//!   (and with LIMIT, to a partial quicksort, which is not stable).
//! - Redis compares ALPHA weights with `strcoll`, so its order depends on
//!   the server's locale; in the C and C.UTF-8 locales that is byte order
//!   up to the first NUL, which is what we do.
//! - Redis 7.0 does not clear `errno` before `strtod`, so after a weight
//!   out of range (`1e400`) its next SORT on the same connection may refuse
//!   weights that are fine. We judge each weight on its own.
//! - Sorting a small sorted set converts Redis's copy to the skiplist
//!   encoding (OBJECT ENCODING shows it afterwards); ours reports the
//!   encoding from the contents, which SORT does not change.
//!
//! # Cost
//!
//! The source is read whole (one range read of its element records), plus
//! one point read per element for a BY pattern (two for a hash field), then
//! sorted in memory: O(N log N) compares. `BY nosort` on a list or sorted
//! set reads only the LIMIT window. GET costs a point read (or two) per
//! returned element per pattern. STORE writes one record per stored value
//! and the destination's header. As in Redis, LIMIT does not spare the
//! sorting work, only the GETs and the reply.

use std::cmp::Ordering;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::collection::{self, Found, find, member_sub};
use super::op::{Evaluated, Kind, Outcome, ReadView, Value, WrongType};
use super::{CommandError, list, option_name, parse_i64, zset};

/// The error of a weight that does not read as a number.
pub const NOT_A_DOUBLE: &str = "ERR One or more scores can't be converted into double";

/// What the elements are ordered by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Order {
    /// The elements themselves.
    Elements,
    /// The values a BY pattern (which has a `*`) names for each element.
    By(Bytes),
    /// Nothing: BY with a pattern without `*` (`BY nosort`).
    Unsorted,
}

/// What to sort and how: SORT without STORE or SORT_RO (a read), and the
/// sorting part of SORT ... STORE ([`SortStore`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sort {
    /// The list, set or sorted set.
    pub key: Bytes,
    /// BY, or not.
    pub order: Order,
    /// LIMIT's offset (0 without LIMIT).
    pub offset: i64,
    /// LIMIT's count (-1, all, without LIMIT).
    pub count: i64,
    /// The GET patterns, in order (none: the elements are the result).
    pub gets: Vec<Bytes>,
    /// DESC.
    pub desc: bool,
    /// ALPHA.
    pub alpha: bool,
}

/// SORT ... STORE destination: a write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SortStore {
    /// What to sort.
    pub sort: Sort,
    /// The key that gets the result as a list.
    pub dest: Bytes,
}

impl Sort {
    /// Whether evaluating it may read keys other than [`Sort::key`]: a BY
    /// that sorts, or a GET pattern that names keys.
    pub fn reads_other_keys(&self) -> bool {
        matches!(self.order, Order::By(_)) || self.gets.iter().any(|get| names_keys(get))
    }
}

impl SortStore {
    /// The keys it names: the source and the destination.
    pub fn keys(&self) -> Vec<&Bytes> {
        vec![&self.sort.key, &self.dest]
    }
}

/// A pattern as C reads it: the bytes before the first NUL.
fn c_str(text: &[u8]) -> &[u8] {
    text.split(|b| *b == 0).next().unwrap_or_default()
}

/// Whether a GET pattern names other keys (not `#`, and with a `*`).
fn names_keys(pattern: &[u8]) -> bool {
    let text = c_str(pattern);
    text != b"#" && text.contains(&b'*')
}

/// `SORT key [options]` (`read_only`: SORT_RO), checked as Redis 7.0 checks
/// it; the STORE destination, if any, comes back beside the sort.
pub fn parse(args: &[Bytes], read_only: bool) -> Result<(Sort, Option<Bytes>), CommandError> {
    let mut sort = Sort {
        key: args.get(1).cloned().unwrap_or_default(),
        order: Order::Elements,
        offset: 0,
        count: -1,
        gets: Vec::new(),
        desc: false,
        alpha: false,
    };
    let mut by = None;
    let mut unsorted = false;
    let mut store = None;
    let mut i = 2;
    while let Some(option) = args.get(i) {
        let left = args.len() - i - 1;
        let next = || args.get(i + 1).cloned().unwrap_or_default();
        match option_name(option).as_str() {
            "asc" => sort.desc = false,
            "desc" => sort.desc = true,
            "alpha" => sort.alpha = true,
            "limit" if left >= 2 => {
                sort.offset = parse_i64(&next())?;
                sort.count = parse_i64(args.get(i + 2).map_or(&b""[..], |a| &a[..]))?;
                i += 2;
            }
            "store" if !read_only && left >= 1 => {
                store = Some(next());
                i += 1;
            }
            "by" if left >= 1 => {
                let pattern = next();
                // Redis never clears its "don't sort" flag once set.
                unsorted |= !c_str(&pattern).contains(&b'*');
                by = Some(pattern);
                i += 1;
            }
            "get" if left >= 1 => {
                sort.gets.push(next());
                i += 1;
            }
            _ => return Err(CommandError::Syntax),
        }
        i += 1;
    }
    sort.order = match by {
        _ if unsorted => Order::Unsorted,
        Some(pattern) => Order::By(pattern),
        None => Order::Elements,
    };
    Ok((sort, store))
}

/// What a pattern names for one element.
enum Target {
    /// `#`: the element.
    Element,
    /// A string key.
    Key(Bytes),
    /// A hash key and a field.
    Field(Bytes, Bytes),
    /// Nothing (no `*`).
    Nothing,
}

impl Target {
    /// Redis's `lookupKeyByPattern` without the lookup: the element put in
    /// place of the first `*`, and a field after the first `->` that
    /// follows it (if a field name follows the arrow).
    fn of(pattern: &[u8], element: &[u8]) -> Target {
        let text = c_str(pattern);
        if text == b"#" {
            return Target::Element;
        }
        let Some(star) = text.iter().position(|b| *b == b'*') else {
            return Target::Nothing;
        };
        let after = star + 1;
        let arrow = text[after..]
            .windows(2)
            .position(|w| w == b"->")
            .map(|i| after + i)
            .filter(|i| i + 2 < text.len());
        let key_end = arrow.unwrap_or(pattern.len());
        let mut key = Vec::with_capacity(key_end - 1 + element.len());
        key.extend_from_slice(&pattern[..star]);
        key.extend_from_slice(element);
        key.extend_from_slice(&pattern[after..key_end]);
        let key = Bytes::from(key);
        match arrow {
            Some(i) => Target::Field(key, Bytes::copy_from_slice(&pattern[i + 2..])),
            None => Target::Key(key),
        }
    }
}

/// The value `pattern` names for `element`, if there is one.
fn lookup<V: ReadView>(
    view: &V,
    pattern: &[u8],
    element: &Bytes,
) -> Result<Option<Bytes>, V::Error> {
    Ok(match Target::of(pattern, element) {
        Target::Element => Some(element.clone()),
        Target::Nothing => None,
        Target::Key(key) => match view.string(&key)? {
            Ok(found) => found.map(|s| s.value),
            Err(WrongType) => None,
        },
        Target::Field(key, field) => match find(view, &key, Kind::Hash)? {
            Ok(Some(hash)) => view.element(hash.header.version, &member_sub(&field))?,
            _ => None,
        },
    })
}

/// C's `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// A weight as Redis 7.0's SORT reads it: C's `strtod` over the text up to
/// its first NUL, which must take all of it. Leading blanks are skipped;
/// the empty text reads as 0 (strtod stops at once, at the end); `inf` and
/// `infinity` are infinite; NaN and what strtod flags out of range
/// (overflow, or an underflow to zero or to an inexact denormal) are
/// refused. Hexadecimal (`0x1.8p3`) is read too. `None`: not a number.
pub fn score(text: &[u8]) -> Option<f64> {
    let text = c_str(text);
    if text.is_empty() {
        return Some(0.0);
    }
    let start = text.iter().position(|b| !is_c_space(*b))?;
    let text = &text[start..];
    let (negative, body) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some((b'+', rest)) => (false, rest),
        _ => (false, text),
    };
    let value = if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        f64::INFINITY
    } else if let Some(hex) = body
        .strip_prefix(b"0x")
        .or_else(|| body.strip_prefix(b"0X"))
    {
        hexadecimal(hex)?
    } else {
        decimal(body)?
    };
    Some(if negative { -value } else { value })
}

/// Unsigned decimal text (digits, a point, an exponent), correctly rounded
/// (as glibc's strtod; Rust's parser is exact too), with strtod's range
/// checks.
fn decimal(text: &[u8]) -> Option<f64> {
    // Rust's parser also takes "inf" and "nan": only digits or a point
    // may start the number here.
    if !text
        .first()
        .is_some_and(|b| b.is_ascii_digit() || *b == b'.')
    {
        return None;
    }
    let value: f64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    let significant = text
        .iter()
        .take_while(|b| !matches!(b, b'e' | b'E'))
        .any(|b| (b'1'..=b'9').contains(b));
    let underflow = value != 0.0 && value.abs() < f64::MIN_POSITIVE;
    if value.is_infinite() || underflow || (value == 0.0 && significant) {
        return None;
    }
    Some(value)
}

/// Unsigned hexadecimal text after `0x`: hex digits with an optional point,
/// then an optional binary exponent `p[+-]digits`. Rounded to nearest,
/// ties to even; out of range as strtod (overflow; an inexact result below
/// the normal range), an exact denormal being fine.
fn hexadecimal(text: &[u8]) -> Option<f64> {
    let mut mantissa: u64 = 0;
    let mut exponent: i64 = 0;
    // A nonzero digit that did not fit in the mantissa.
    let mut sticky = false;
    let mut digits = 0usize;
    let mut point = false;
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b == b'.' && !point {
            point = true;
        } else if let Some(d) = char::from(b).to_digit(16) {
            digits += 1;
            if mantissa >> 60 == 0 {
                mantissa = mantissa << 4 | u64::from(d);
                if point {
                    exponent -= 4;
                }
            } else {
                sticky |= d != 0;
                if !point {
                    exponent += 4;
                }
            }
        } else {
            break;
        }
        i += 1;
    }
    if digits == 0 {
        return None;
    }
    if let Some(rest) = text.get(i..).filter(|rest| !rest.is_empty()) {
        let (p, power) = rest.split_first()?;
        if !p.eq_ignore_ascii_case(&b'p') {
            return None;
        }
        let (negative, power) = match power.split_first() {
            Some((b'-', rest)) => (true, rest),
            Some((b'+', rest)) => (false, rest),
            _ => (false, power),
        };
        if power.is_empty() || !power.iter().all(u8::is_ascii_digit) {
            return None;
        }
        // Far past the range either way: saturate.
        let power = power
            .iter()
            .fold(0i64, |n, d| (n * 10 + i64::from(d - b'0')).min(1_000_000));
        exponent += if negative { -power } else { power };
    }
    binary(mantissa, exponent, sticky)
}

/// `mantissa × 2^exponent` (plus a little, if `sticky`) rounded to a double
/// as strtod rounds it, or `None` where strtod says ERANGE.
fn binary(mantissa: u64, exponent: i64, sticky: bool) -> Option<f64> {
    if mantissa == 0 {
        return Some(0.0);
    }
    let width = i64::from(64 - mantissa.leading_zeros());
    let top = exponent + width - 1;
    if top > 1023 {
        return None;
    }
    // The weight of the last bit kept: 53 significant bits, fewer for a
    // denormal (whose last bit weighs 2^-1074).
    let last = (top - 52).max(-1074);
    let drop = last - exponent;
    let (kept, inexact) = if drop <= 0 {
        (mantissa, sticky)
    } else if drop > 64 {
        (0, true)
    } else {
        let wide = u128::from(mantissa);
        let kept = wide >> drop;
        let rest = wide & ((1u128 << drop) - 1);
        let half = 1u128 << (drop - 1);
        let up = rest > half || (rest == half && (sticky || kept & 1 == 1));
        let kept = u64::try_from(kept + u128::from(up)).unwrap_or(u64::MAX);
        (kept, rest != 0 || sticky)
    };
    let weight = if drop <= 0 { exponent } else { last };
    let value = scale(kept as f64, weight);
    let tiny = value < f64::MIN_POSITIVE;
    if value.is_infinite() || (inexact && tiny) {
        return None;
    }
    Some(value)
}

/// `x × 2^e`, exact whenever the result is representable.
fn scale(mut x: f64, mut e: i64) -> f64 {
    let step = 2f64.powi(1000);
    while e > 1000 {
        x *= step;
        e -= 1000;
    }
    while e < -1000 {
        x /= step;
        e += 1000;
    }
    x * 2f64.powi(i32::try_from(e).unwrap_or(0))
}

/// The LIMIT window over `len` elements, clamped as Redis clamps it:
/// the first index and how many.
fn window(offset: i64, count: i64, len: u64) -> (u64, u64) {
    let len = i64::try_from(len).unwrap_or(i64::MAX);
    let mut start = offset.clamp(0, len);
    let count = count.clamp(-1, len);
    let mut end = if count < 0 {
        len - 1
    } else {
        start + count - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let n = (end - start + 1).max(0);
    (
        u64::try_from(start.max(0)).unwrap_or(0),
        u64::try_from(n).unwrap_or(0),
    )
}

/// The key to sort: `Ok(None)` if missing, WRONGTYPE unless a list, set or
/// sorted set.
fn source<V: ReadView>(view: &V, key: &[u8]) -> Result<Result<Option<Found>, WrongType>, V::Error> {
    Ok(match view.entry(key)? {
        None => Ok(None),
        Some(entry) => match entry.value {
            Value::Collection(header)
                if matches!(header.kind, Kind::List | Kind::Set | Kind::ZSet) =>
            {
                Ok(Some(Found {
                    header,
                    expires_at: entry.expires_at,
                }))
            }
            _ => Err(WrongType),
        },
    })
}

/// Every element of a found source, in the order we read it: list order,
/// member order for a set or sorted set.
fn elements<V: ReadView>(view: &V, found: &Found) -> Result<Vec<Bytes>, V::Error> {
    let members = collection::all_members(view, Some(found))?;
    Ok(match found.header.kind {
        // A list's members are its slots; their values are the elements.
        Kind::List => members.into_iter().map(|(_, value)| value).collect(),
        _ => members.into_iter().map(|(member, _)| member).collect(),
    })
}

/// The elements SORT selects, in result order (before GET), or the error
/// outcome. `storing`: the result goes to a key (a set then sorts even
/// with `BY nosort`).
fn select<V: ReadView>(
    sort: &Sort,
    view: &V,
    storing: bool,
) -> Result<Result<Vec<Bytes>, Outcome>, V::Error> {
    let Ok(found) = source(view, &sort.key)? else {
        return Ok(Err(WrongType.into()));
    };
    let Some(found) = found else {
        return Ok(Ok(Vec::new()));
    };
    let len = found.header.len;
    let (start, n) = window(sort.offset, sort.count, len);
    let take = |all: Vec<Bytes>| -> Vec<Bytes> {
        let skip = usize::try_from(start).unwrap_or(usize::MAX);
        let n = usize::try_from(n).unwrap_or(usize::MAX);
        all.into_iter().skip(skip).take(n).collect()
    };
    let kind = found.header.kind;
    let (by, alpha) = match &sort.order {
        Order::Unsorted if n == 0 && kind != Kind::Set => return Ok(Ok(Vec::new())),
        Order::Unsorted if kind == Kind::List => {
            // The window of the list, or of the list reversed.
            let first = if sort.desc { len - start - n } else { start };
            let mut out = list::read_range(view, &found, first, n)?;
            if sort.desc {
                out.reverse();
            }
            return Ok(Ok(out));
        }
        Order::Unsorted if kind == Kind::ZSet => {
            let out = zset::rank_range(view, &found, start, start + n - 1, sort.desc)?;
            return Ok(Ok(out));
        }
        // A set, as we hold it (see the module docs).
        Order::Unsorted if !storing => return Ok(Ok(take(elements(view, &found)?))),
        // A set to store: sorted ALPHA by itself, so replicas agree.
        Order::Unsorted => (None, true),
        Order::Elements => (None, sort.alpha),
        Order::By(pattern) => (Some(pattern), sort.alpha),
    };
    let all = elements(view, &found)?;
    let desc = |o: Ordering| if sort.desc { o.reverse() } else { o };
    let sorted = if alpha {
        let mut weighed = Vec::with_capacity(all.len());
        for element in all {
            let weight = match by {
                Some(pattern) => lookup(view, pattern, &element)?,
                None => None,
            };
            weighed.push((weight, element));
        }
        match by {
            // A missing weight sorts first; ties keep the order read.
            Some(_) => weighed.sort_by(|(a, _), (b, _)| {
                desc(a.as_deref().map(c_str).cmp(&b.as_deref().map(c_str)))
            }),
            None => weighed.sort_by(|(_, a), (_, b)| desc(a.cmp(b))),
        }
        weighed.into_iter().map(|(_, element)| element).collect()
    } else {
        let mut weighed = Vec::with_capacity(all.len());
        for element in all {
            let weight = match by {
                Some(pattern) => match lookup(view, pattern, &element)? {
                    Some(text) => score(&text),
                    None => Some(0.0),
                },
                None => score(&element),
            };
            let Some(weight) = weight else {
                return Ok(Err(Outcome::Error(NOT_A_DOUBLE.into())));
            };
            weighed.push((weight, element));
        }
        weighed.sort_by(|(x, a), (y, b)| {
            desc(
                x.partial_cmp(y)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.cmp(b)),
            )
        });
        weighed.into_iter().map(|(_, element)| element).collect()
    };
    Ok(Ok(take(sorted)))
}

/// Evaluates SORT or SORT_RO without STORE: an array of the selected
/// elements, or of what each GET pattern names for each (nil where nothing).
pub fn eval_read<V: ReadView>(sort: &Sort, view: &V) -> Result<Outcome, V::Error> {
    let selected = match select(sort, view, false)? {
        Ok(selected) => selected,
        Err(error) => return Ok(error),
    };
    let mut items = Vec::with_capacity(selected.len() * sort.gets.len().max(1));
    for element in selected {
        if sort.gets.is_empty() {
            items.push(Outcome::Value(Some(element)));
            continue;
        }
        for pattern in &sort.gets {
            items.push(Outcome::Value(lookup(view, pattern, &element)?));
        }
    }
    Ok(Outcome::Array(items))
}

/// Evaluates SORT ... STORE: the destination becomes a list of the result
/// (the empty string where a GET names nothing), or is deleted for an
/// empty one; replies the list's length.
pub fn eval_store<V: ReadView>(op: &SortStore, view: &V) -> Result<Evaluated, V::Error> {
    let sort = &op.sort;
    let selected = match select(sort, view, true)? {
        Ok(selected) => selected,
        Err(error) => return Ok((error, Vec::new())),
    };
    let mut values = Vec::with_capacity(selected.len() * sort.gets.len().max(1));
    for element in selected {
        if sort.gets.is_empty() {
            values.push(element);
            continue;
        }
        for pattern in &sort.gets {
            values.push(lookup(view, pattern, &element)?.unwrap_or_default());
        }
    }
    let n = i64::try_from(values.len()).unwrap_or(i64::MAX);
    Ok((Outcome::Integer(n), list::store(view, &op.dest, values)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::op::testing::{MapView, args, b, parse_err, run};
    use crate::command::op::{ReadOp, WriteOp};
    use crate::command::{Command, parse as parse_command};
    use crate::config::Dialect;

    /// Runs each line in turn (writes each with its own stamp) and returns
    /// the last outcome.
    fn setup(view: &mut MapView, lines: &[&str]) {
        for (i, line) in lines.iter().enumerate() {
            let outcome = run(view, 100 + i as u64, line);
            assert!(!matches!(outcome, Outcome::Error(_)), "{line}: {outcome:?}");
        }
    }

    fn bulks(items: &[&str]) -> Outcome {
        Outcome::Array(items.iter().map(|s| Outcome::Value(Some(b(s)))).collect())
    }

    fn values(items: &[Option<&str>]) -> Outcome {
        Outcome::Array(items.iter().map(|s| Outcome::Value(s.map(b))).collect())
    }

    /// Runs a line as a new transaction (its own stamp, so the lists it
    /// stores are new incarnations).
    fn sorting(view: &mut MapView, line: &str) -> Outcome {
        static STAMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1_000);
        run(
            view,
            STAMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            line,
        )
    }

    #[test]
    fn numeric_and_alpha_orders() {
        let mut view = MapView::default();
        setup(
            &mut view,
            &[
                "RPUSH l 3 10 -1 2.5 1e1 0x10",
                "SADD s b a c",
                "ZADD z 1 c 2 b 3 a",
            ],
        );
        // Equal scores (10 and 1e1) are ordered by their bytes.
        assert_eq!(
            sorting(&mut view, "SORT l"),
            bulks(&["-1", "2.5", "3", "10", "1e1", "0x10"])
        );
        assert_eq!(
            sorting(&mut view, "SORT l DESC"),
            bulks(&["0x10", "1e1", "10", "3", "2.5", "-1"])
        );
        assert_eq!(
            sorting(&mut view, "SORT l ALPHA"),
            bulks(&["-1", "0x10", "10", "1e1", "2.5", "3"])
        );
        assert_eq!(sorting(&mut view, "SORT s ALPHA"), bulks(&["a", "b", "c"]));
        assert_eq!(
            sorting(&mut view, "SORT_RO z ALPHA DESC"),
            bulks(&["c", "b", "a"])
        );
        assert_eq!(
            sorting(&mut view, "SORT s"),
            Outcome::Error(NOT_A_DOUBLE.into())
        );
        assert_eq!(sorting(&mut view, "SORT missing"), bulks(&[]));
        setup(&mut view, &["SET str v", "HSET h f v"]);
        for line in ["SORT str", "SORT h", "SORT_RO h ALPHA"] {
            assert_eq!(sorting(&mut view, line), WrongType.into(), "{line}");
        }
    }

    #[test]
    fn limit_clamps_like_redis() {
        let mut view = MapView::default();
        setup(&mut view, &["RPUSH l 5 4 3 2 1"]);
        let cases: &[(&str, &[&str])] = &[
            ("0 2", &["1", "2"]),
            ("1 -1", &["2", "3", "4", "5"]),
            ("-5 2", &["1", "2"]),
            ("3 100", &["4", "5"]),
            ("5 1", &[]),
            ("100 -1", &[]),
            ("2 0", &[]),
            ("4 -7", &["5"]),
            (
                "-9223372036854775808 9223372036854775807",
                &["1", "2", "3", "4", "5"],
            ),
        ];
        for (limit, want) in cases {
            let line = format!("SORT l LIMIT {limit}");
            assert_eq!(sorting(&mut view, &line), bulks(want), "{line}");
        }
        assert_eq!(window(0, -1, 0), (0, 0));
        assert_eq!(window(3, 2, 0), (0, 0));
    }

    #[test]
    fn by_and_get_patterns() {
        let mut view = MapView::default();
        setup(
            &mut view,
            &[
                "RPUSH l a b c d",
                "MSET w_a 3 w_b 1 w_c 2 name_a A name_c C",
                "HSET h_a f 30 n x",
                "HSET h_b f 10",
                "HSET h_c f 20",
                "RPUSH w_d 1",
            ],
        );
        // d's weight is a list: missing, so 0, first.
        assert_eq!(
            sorting(&mut view, "SORT l BY w_*"),
            bulks(&["d", "b", "c", "a"])
        );
        assert_eq!(
            sorting(&mut view, "SORT l BY h_*->f DESC"),
            bulks(&["a", "c", "b", "d"])
        );
        assert_eq!(
            sorting(
                &mut view,
                "SORT l BY w_* GET # GET name_* GET h_*->n GET nostar"
            ),
            values(&[
                Some("d"),
                None,
                None,
                None,
                Some("b"),
                None,
                None,
                None,
                Some("c"),
                Some("C"),
                None,
                None,
                Some("a"),
                Some("A"),
                Some("x"),
                None,
            ])
        );
        // ALPHA by weights: the missing weight first.
        assert_eq!(
            sorting(&mut view, "SORT l BY name_* ALPHA"),
            bulks(&["b", "d", "a", "c"])
        );
        // A weight that is not a number fails the whole command.
        setup(&mut view, &["SET w_c x"]);
        assert_eq!(
            sorting(&mut view, "SORT l BY w_*"),
            Outcome::Error(NOT_A_DOUBLE.into())
        );
        // An arrow with nothing after it is part of the key name.
        setup(&mut view, &["SET k_a-> arrow"]);
        assert_eq!(
            sorting(&mut view, "SORT l BY nosort GET k_*-> LIMIT 0 1"),
            values(&[Some("arrow")])
        );
    }

    #[test]
    fn nosort_keeps_the_source_order() {
        let mut view = MapView::default();
        setup(
            &mut view,
            &["RPUSH l c a b d", "ZADD z 3 x 1 y 2 w", "SADD s b c a"],
        );
        assert_eq!(
            sorting(&mut view, "SORT l BY nosort"),
            bulks(&["c", "a", "b", "d"])
        );
        assert_eq!(
            sorting(&mut view, "SORT l BY nosort DESC LIMIT 1 2"),
            bulks(&["b", "a"])
        );
        assert_eq!(
            sorting(&mut view, "SORT l BY nosort LIMIT 1 2"),
            bulks(&["a", "b"])
        );
        assert_eq!(
            sorting(&mut view, "SORT z BY nosort"),
            bulks(&["y", "w", "x"])
        );
        assert_eq!(
            sorting(&mut view, "SORT z BY nosort DESC LIMIT 0 2"),
            bulks(&["x", "w"])
        );
        // Sticky: a later BY with a star does not undo it.
        assert_eq!(
            sorting(&mut view, "SORT l BY nosort BY w_*"),
            bulks(&["c", "a", "b", "d"])
        );
        // A set: our order, DESC ignored as Redis ignores it.
        assert_eq!(
            sorting(&mut view, "SORT s BY nosort DESC"),
            bulks(&["a", "b", "c"])
        );
        // Stored: sorted ALPHA, DESC honoured.
        assert_eq!(
            sorting(&mut view, "SORT s BY nosort DESC STORE d"),
            Outcome::Integer(3)
        );
        assert_eq!(sorting(&mut view, "LRANGE d 0 -1"), bulks(&["c", "b", "a"]));
    }

    #[test]
    fn store_replaces_or_deletes_the_destination() {
        let mut view = MapView::default();
        setup(
            &mut view,
            &["RPUSH l 3 1 2", "SET dest old", "PEXPIRE dest 100000"],
        );
        assert_eq!(sorting(&mut view, "SORT l STORE dest"), Outcome::Integer(3));
        assert_eq!(
            sorting(&mut view, "LRANGE dest 0 -1"),
            bulks(&["1", "2", "3"])
        );
        assert_eq!(sorting(&mut view, "PTTL dest"), Outcome::Integer(-1));
        // GET patterns that name nothing store the empty string.
        assert_eq!(
            sorting(&mut view, "SORT l GET # GET nothing_* STORE dest"),
            Outcome::Integer(6)
        );
        assert_eq!(
            sorting(&mut view, "LRANGE dest 0 -1"),
            bulks(&["1", "", "2", "", "3", ""])
        );
        // The source itself may be the destination.
        assert_eq!(
            sorting(&mut view, "SORT l DESC STORE l"),
            Outcome::Integer(3)
        );
        assert_eq!(sorting(&mut view, "LRANGE l 0 -1"), bulks(&["3", "2", "1"]));
        // Nothing to store: the destination goes.
        assert_eq!(
            sorting(&mut view, "SORT missing STORE dest"),
            Outcome::Integer(0)
        );
        assert_eq!(sorting(&mut view, "EXISTS dest"), Outcome::Integer(0));
        assert_eq!(
            sorting(&mut view, "SORT l LIMIT 0 0 STORE l"),
            Outcome::Integer(0)
        );
        assert_eq!(sorting(&mut view, "EXISTS l"), Outcome::Integer(0));
        // An error stores nothing.
        setup(&mut view, &["RPUSH bad x", "SET keep v"]);
        assert_eq!(
            sorting(&mut view, "SORT bad STORE keep"),
            Outcome::Error(NOT_A_DOUBLE.into())
        );
        assert_eq!(sorting(&mut view, "GET keep"), Outcome::Value(Some(b("v"))));
    }

    #[test]
    fn parse_errors_in_redis_order() {
        for (line, want) in [
            ("SORT k FOO", "ERR syntax error"),
            ("SORT k LIMIT 1", "ERR syntax error"),
            (
                "SORT k LIMIT x 1 FOO",
                "ERR value is not an integer or out of range",
            ),
            (
                "SORT k LIMIT 1 x",
                "ERR value is not an integer or out of range",
            ),
            ("SORT k BY", "ERR syntax error"),
            ("SORT k GET", "ERR syntax error"),
            ("SORT k STORE", "ERR syntax error"),
            ("SORT_RO k STORE d", "ERR syntax error"),
            ("SORT", "ERR wrong number of arguments for 'sort' command"),
            (
                "SORT_RO",
                "ERR wrong number of arguments for 'sort_ro' command",
            ),
        ] {
            assert_eq!(parse_err(line), want, "{line}");
        }
        // Options are checked before the key's type.
        let mut view = MapView::default();
        setup(&mut view, &["SET str v"]);
        assert_eq!(parse_err("SORT str FOO"), "ERR syntax error");
    }

    #[test]
    fn which_keys_it_reads() {
        let parsed = |line: &str| parse_command(&args(line), Dialect::Redis).unwrap();
        let read = |line: &str| match parsed(line) {
            Command::Read(op) => op,
            other => panic!("{line}: {other:?}"),
        };
        let write = |line: &str| match parsed(line) {
            Command::Write(op) => op,
            other => panic!("{line}: {other:?}"),
        };
        for line in ["SORT k", "SORT_RO k GET # BY nosort", "SORT k GET nostar"] {
            let op = read(line);
            assert!(!op.reads_everything(), "{line}");
            assert!(op.is_heavy(), "{line}");
            assert_eq!(op.keys(), vec![&b("k")], "{line}");
        }
        for line in [
            "SORT k BY w_*",
            "SORT_RO k GET h_*->f",
            "SORT k GET # GET *",
        ] {
            assert!(read(line).reads_everything(), "{line}");
        }
        let store = write("SORT k STORE d");
        assert!(!store.locks_everything());
        assert_eq!(store.keys(), vec![&b("k"), &b("d")]);
        assert!(write("SORT k BY w_* STORE d").locks_everything());
        assert!(write("SORT k GET o_* STORE d").locks_everything());
        assert!(!write("SORT k BY nosort GET # STORE d").locks_everything());
        // Inside MULTI, a pattern makes the whole transaction lock all.
        let multi = |step| WriteOp::Multi {
            watched: Vec::new(),
            steps: vec![step],
        };
        use crate::command::op::Step;
        assert!(multi(Step::Read(read("SORT k BY w_*"))).locks_everything());
        assert!(!multi(Step::Read(read("SORT k"))).locks_everything());
        assert!(matches!(read("SORT k"), ReadOp::Sort(_)));
    }

    #[test]
    fn patterns_read_as_c_strings() {
        let key = |p: &[u8]| match Target::of(p, b"e") {
            Target::Key(k) => format!("key {k:?}"),
            Target::Field(k, f) => format!("field {k:?} {f:?}"),
            Target::Element => "element".into(),
            Target::Nothing => "nothing".into(),
        };
        assert_eq!(key(b"#"), "element");
        assert_eq!(key(b"#\0x"), "element");
        assert_eq!(key(b"##"), "nothing");
        assert_eq!(key(b"a\0*"), "nothing");
        assert_eq!(key(b"a*b"), "key b\"aeb\"");
        assert_eq!(key(b"a*b*"), "key b\"aeb*\"");
        assert_eq!(key(b"a*b->f"), "field b\"aeb\" b\"f\"");
        assert_eq!(key(b"a*->f->g"), "field b\"ae\" b\"f->g\"");
        assert_eq!(key(b"a*->"), "key b\"ae->\"");
        assert_eq!(key(b"a->f*"), "key b\"a->fe\"");
        assert_eq!(key(b"*->\0f"), "key b\"e->\\0f\"");
        assert_eq!(key(b"*->f\0g"), "field b\"e\" b\"f\\0g\"");
    }

    /// What Redis 7.0 (glibc's strtod) answers, checked against
    /// redis-server.
    #[test]
    fn weights_read_as_strtod() {
        let cases: &[(&[u8], Option<f64>)] = &[
            (b"", Some(0.0)),
            (b" 1", Some(1.0)),
            (b"\x0b\x0c5", Some(5.0)),
            (b"   ", None),
            (b"5 ", None),
            (b"+5", Some(5.0)),
            (b"-.5e1", Some(-5.0)),
            (b"1.", Some(1.0)),
            (b".5", Some(0.5)),
            (b".", None),
            (b"1e+", None),
            (b"1e0x", None),
            (b"1_0", None),
            (b"1\0abc", Some(1.0)),
            (b"inf", Some(f64::INFINITY)),
            (b"-INF", Some(f64::NEG_INFINITY)),
            (b"Infinity", Some(f64::INFINITY)),
            (b"infinit", None),
            (b"nan", None),
            (b"-nan", None),
            (b"nan(12)", None),
            (b"1e400", None),
            (b"1e-400", None),
            (b"4.9e-324", None),
            (b"1e-310", None),
            (b"0e-400", Some(0.0)),
            (b"2.2250738585072014e-308", Some(f64::MIN_POSITIVE)),
            (b"99999999999999999999999", Some(1e23)),
            (b"0x10", Some(16.0)),
            (b"-0X1A", Some(-26.0)),
            (b"0x1p3", Some(8.0)),
            (b"0x1.8p1", Some(3.0)),
            (b"0X.8", Some(0.5)),
            (b"0x1P+2", Some(4.0)),
            (b"0x1p-1074", Some(f64::from_bits(1))),
            (b"0x1p-1022", Some(f64::MIN_POSITIVE)),
            (b"0x1.8p-1074", None),
            (b"0x1p-1075", None),
            (b"0x0.0000000000001p-1022", Some(f64::from_bits(1))),
            (b"0x1p1024", None),
            (b"0x1.fffffffffffff8p1023", None),
            (b"0x1.fffffffffffff7p1023", Some(f64::MAX)),
            (b"0x123456789abcdef01", Some(20_988_295_479_420_645_000.0)),
            (b"0x", None),
            (b"0x.p1", None),
            (b"0x1p", None),
            (b"0x1p-", None),
            (b"0xg", None),
            (b"- 5", None),
            (b"+-5", None),
        ];
        for (text, want) in cases {
            assert_eq!(score(text), *want, "{:?}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn multi_sorts_what_earlier_commands_wrote() {
        let mut view = MapView::default();
        let op = WriteOp::Multi {
            watched: Vec::new(),
            steps: [
                "RPUSH l 2 1",
                "SET w_1 9",
                "SORT l BY w_* STORE out",
                "SORT_RO out",
            ]
            .iter()
            .map(
                |line| match parse_command(&args(line), Dialect::Redis).unwrap() {
                    Command::Write(w) => crate::command::op::Step::Write(w),
                    Command::Read(r) => crate::command::op::Step::Read(r),
                    other => panic!("{other:?}"),
                },
            )
            .collect(),
        };
        assert_eq!(
            crate::command::op::testing::write(&mut view, op.stamp(1, 7)),
            Outcome::Array(vec![
                Outcome::Integer(2),
                Outcome::Ok,
                Outcome::Integer(2),
                bulks(&["1", "2"]),
            ])
        );
        assert_eq!(sorting(&mut view, "LRANGE out 0 -1"), bulks(&["2", "1"]));
    }
}
