//! List commands: LPUSH, RPUSH, LPUSHX, RPUSHX, LPOP, RPOP, LSET, LINSERT,
//! LREM, LTRIM, LMOVE, RPOPLPUSH, LMPOP (writes) and LLEN, LINDEX, LRANGE,
//! LPOS (reads), and one attempt of BLPOP/BRPOP ([`ListWrite::BPop`]); the
//! blocking commands' parsing is in [`super::blocking`], their waiting in
//! the session.
//!
//! # Layout
//!
//! A list is a collection ([`super::collection`]): its header in the key's
//! record, one element record per element. Element `i` (from 0 at the
//! left) sits in *slot* `head + i`, under the subkey
//! `member_sub(slot as 8 big-endian bytes)`, so byte order is slot order;
//! the slots `head..head + len` are contiguous and hold exactly the
//! list's elements (every command keeps it so). The head is in the header
//! ([`Change::head`]); a new list starts at [`collection::NEW_HEAD`]
//! (2^63), so it can grow 2^63 slots either way.
//!
//! # Costs
//!
//! - A push or pop at either end, LINDEX, LLEN and LSET: O(1) point reads
//!   and writes per element (a left push or pop moves the head).
//! - LRANGE of k elements: one range read of about k records from slot
//!   `head + start`. LPOS reads from the end it starts at, a page at a
//!   time, and stops as soon as it has its answer (or at MAXLEN).
//! - LINSERT and LREM rewrite the elements between the change point and
//!   the nearer end: O(N) in the worst case, as in Redis, but an insert
//!   near either end, or a removal near either end, moves little.
//! - LTRIM deletes the trimmed slots (O(trimmed)) and moves the head; one
//!   that leaves nothing deletes the key at once (its elements are garbage,
//!   swept by each node).
//!
//! Popping the last element deletes the key, as in Redis. Parsing follows
//! Redis 7.0's checks, their order and their error texts: where Redis
//! reads an argument only after finding the key (LINDEX's and LSET's
//! index), the op carries the argument unparsed as `None` and evaluation
//! answers the error in Redis's order.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::collection::{self, Change, Found, find};
use super::op::{Effect, Evaluated, Kind, Outcome, ReadView, WrongType};
use super::{CommandError, option_name, parse_i64};

/// One end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum End {
    /// The head (LEFT, index 0).
    Left,
    /// The tail (RIGHT, index -1).
    Right,
}

/// A list command that writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListWrite {
    /// LPUSH / RPUSH / LPUSHX / RPUSHX key element \[element ...\]: the new
    /// length.
    Push {
        /// The key.
        key: Bytes,
        /// Which end.
        end: End,
        /// The elements, pushed one after another.
        values: Vec<Bytes>,
        /// LPUSHX / RPUSHX: only onto an existing list (else `:0`).
        existing_only: bool,
    },
    /// LPOP / RPOP key \[count\].
    Pop {
        /// The key.
        key: Bytes,
        /// Which end.
        end: End,
        /// The count, if given: the reply is then an array.
        count: Option<u64>,
    },
    /// LSET key index element.
    Set {
        /// The key.
        key: Bytes,
        /// The index (`None`: not an integer, which Redis reports only
        /// once it has found the list).
        index: Option<i64>,
        /// The new element.
        value: Bytes,
    },
    /// LINSERT key BEFORE|AFTER pivot element: the new length, -1 without
    /// the pivot, 0 without the key.
    Insert {
        /// The key.
        key: Bytes,
        /// AFTER rather than BEFORE.
        after: bool,
        /// The element to insert next to.
        pivot: Bytes,
        /// The new element.
        value: Bytes,
    },
    /// LREM key count element: how many were removed.
    Rem {
        /// The key.
        key: Bytes,
        /// How many, from the head (> 0) or the tail (< 0); 0: all.
        count: i64,
        /// The element.
        value: Bytes,
    },
    /// LTRIM key start stop: `+OK`.
    Trim {
        /// The key.
        key: Bytes,
        /// First index kept.
        start: i64,
        /// Last index kept (inclusive).
        stop: i64,
    },
    /// LMOVE source destination LEFT|RIGHT LEFT|RIGHT, and RPOPLPUSH
    /// (RIGHT LEFT): the element moved, or nil.
    Move {
        /// The source.
        from: Bytes,
        /// The destination.
        to: Bytes,
        /// The source's end popped.
        from_end: End,
        /// The destination's end pushed.
        to_end: End,
    },
    /// LMPOP numkeys key \[key ...\] LEFT|RIGHT \[COUNT count\]: the first
    /// non-empty list's key and up to `count` elements, or a nil array.
    MPop {
        /// The keys, in order.
        keys: Vec<Bytes>,
        /// Which end.
        end: End,
        /// At most this many (at least 1).
        count: u64,
    },
    /// One attempt of BLPOP / BRPOP key \[key ...\] timeout: the first
    /// non-empty list's key and one element from `end`, or a nil array
    /// when every list is empty (the waiting is the session's,
    /// [`crate::blocked`]).
    BPop {
        /// The keys, in order.
        keys: Vec<Bytes>,
        /// Which end.
        end: End,
    },
}

/// A list command that only reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ListRead {
    /// LLEN key.
    Len {
        /// The key.
        key: Bytes,
    },
    /// LINDEX key index.
    Index {
        /// The key.
        key: Bytes,
        /// The index (`None`: not an integer, reported once the list is
        /// found, as Redis does).
        index: Option<i64>,
    },
    /// LRANGE key start stop.
    Range {
        /// The key.
        key: Bytes,
        /// First index.
        start: i64,
        /// Last index (inclusive).
        stop: i64,
    },
    /// LPOS key element \[RANK rank\] \[COUNT num-matches\] \[MAXLEN len\].
    Pos {
        /// The key.
        key: Bytes,
        /// The element sought.
        value: Bytes,
        /// Which match to start from: 1 the first from the head, -1 the
        /// first from the tail (never 0).
        rank: i64,
        /// COUNT, if given (0: every match); the reply is then an array.
        count: Option<u64>,
        /// Compare at most this many elements (0: no limit).
        maxlen: u64,
    },
}

impl ListWrite {
    /// The keys written or read.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            ListWrite::Push { key, .. }
            | ListWrite::Pop { key, .. }
            | ListWrite::Set { key, .. }
            | ListWrite::Insert { key, .. }
            | ListWrite::Rem { key, .. }
            | ListWrite::Trim { key, .. } => vec![key],
            ListWrite::Move { from, to, .. } => vec![from, to],
            ListWrite::MPop { keys, .. } | ListWrite::BPop { keys, .. } => keys.iter().collect(),
        }
    }
}

impl ListRead {
    /// Whether it may read many elements (see
    /// [`super::op::ReadOp::is_heavy`]).
    pub fn is_heavy(&self) -> bool {
        matches!(self, ListRead::Range { .. } | ListRead::Pos { .. })
    }

    /// The key read.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            ListRead::Len { key }
            | ListRead::Index { key, .. }
            | ListRead::Range { key, .. }
            | ListRead::Pos { key, .. } => vec![key],
        }
    }
}

fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

/// LEFT or RIGHT, else a syntax error.
fn parse_end(arg: &[u8]) -> Result<End, CommandError> {
    match option_name(arg).as_str() {
        "left" => Ok(End::Left),
        "right" => Ok(End::Right),
        _ => Err(CommandError::Syntax),
    }
}

/// A non-negative integer, else `message` (Redis's
/// `getPositiveLongFromObjectOrReply`: a non-integer gets the same text).
fn non_negative(arg: &[u8], message: &str) -> Result<u64, CommandError> {
    parse_i64(arg)
        .ok()
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| CommandError::Other(message.into()))
}

/// The list writes (`name` lowercased, arity checked).
pub fn parse_write(name: &str, args: &[Bytes]) -> Result<ListWrite, CommandError> {
    let key = arg(args, 1);
    Ok(match name {
        "lpush" | "rpush" | "lpushx" | "rpushx" => ListWrite::Push {
            key,
            end: if name.starts_with('l') {
                End::Left
            } else {
                End::Right
            },
            values: args.iter().skip(2).cloned().collect(),
            existing_only: name.ends_with('x'),
        },
        "lpop" | "rpop" => {
            let count = match args.len() {
                2 => None,
                3 => Some(non_negative(
                    &arg(args, 2),
                    "ERR value is out of range, must be positive",
                )?),
                _ => return Err(CommandError::Arity(name.to_string())),
            };
            ListWrite::Pop {
                key,
                end: if name == "lpop" {
                    End::Left
                } else {
                    End::Right
                },
                count,
            }
        }
        "lset" => ListWrite::Set {
            key,
            index: parse_i64(&arg(args, 2)).ok(),
            value: arg(args, 3),
        },
        "linsert" => ListWrite::Insert {
            key,
            after: match option_name(&arg(args, 2)).as_str() {
                "after" => true,
                "before" => false,
                _ => return Err(CommandError::Syntax),
            },
            pivot: arg(args, 3),
            value: arg(args, 4),
        },
        "lrem" => ListWrite::Rem {
            key,
            count: parse_i64(&arg(args, 2))?,
            value: arg(args, 3),
        },
        "ltrim" => ListWrite::Trim {
            key,
            start: parse_i64(&arg(args, 2))?,
            stop: parse_i64(&arg(args, 3))?,
        },
        "lmove" => ListWrite::Move {
            from: key,
            to: arg(args, 2),
            from_end: parse_end(&arg(args, 3))?,
            to_end: parse_end(&arg(args, 4))?,
        },
        "rpoplpush" => ListWrite::Move {
            from: key,
            to: arg(args, 2),
            from_end: End::Right,
            to_end: End::Left,
        },
        _ => parse_lmpop(args)?,
    })
}

/// `LMPOP numkeys key \[key ...\] LEFT|RIGHT \[COUNT count\]`, checked as
/// Redis 7.0 checks it.
fn parse_lmpop(args: &[Bytes]) -> Result<ListWrite, CommandError> {
    let numkeys = parse_i64(&arg(args, 1))
        .ok()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| CommandError::Other("ERR numkeys should be greater than 0".into()))?;
    let where_at = numkeys.checked_add(2).ok_or(CommandError::Syntax)?;
    let Some(end) = args.get(where_at) else {
        return Err(CommandError::Syntax);
    };
    let end = parse_end(end)?;
    let keys = args.get(2..where_at).unwrap_or_default().to_vec();
    let mut count = None;
    let mut i = where_at + 1;
    while let Some(opt) = args.get(i) {
        match (option_name(opt).as_str(), args.get(i + 1), count) {
            ("count", Some(value), None) => {
                count = Some(
                    non_negative(value, "ERR count should be greater than 0")
                        .ok()
                        .filter(|n| *n >= 1)
                        .ok_or_else(|| {
                            CommandError::Other("ERR count should be greater than 0".into())
                        })?,
                );
                i += 2;
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(ListWrite::MPop {
        keys,
        end,
        count: count.unwrap_or(1),
    })
}

/// The list reads (`name` lowercased, arity checked).
pub fn parse_read(name: &str, args: &[Bytes]) -> Result<ListRead, CommandError> {
    let key = arg(args, 1);
    Ok(match name {
        "llen" => ListRead::Len { key },
        "lindex" => ListRead::Index {
            key,
            index: parse_i64(&arg(args, 2)).ok(),
        },
        "lrange" => ListRead::Range {
            key,
            start: parse_i64(&arg(args, 2))?,
            stop: parse_i64(&arg(args, 3))?,
        },
        _ => parse_lpos(args)?,
    })
}

/// `LPOS key element \[RANK rank\] \[COUNT num-matches\] \[MAXLEN len\]`,
/// options in any order, the last of each winning, checked as Redis 7.0
/// checks them.
fn parse_lpos(args: &[Bytes]) -> Result<ListRead, CommandError> {
    let mut rank = 1;
    let mut count = None;
    let mut maxlen = 0;
    let mut i = 3;
    while let Some(opt) = args.get(i) {
        let Some(value) = args.get(i + 1) else {
            return Err(CommandError::Syntax);
        };
        match option_name(opt).as_str() {
            "rank" => {
                rank = parse_i64(value)?;
                if rank == 0 {
                    return Err(CommandError::Other(
                        "ERR RANK can't be zero: use 1 to start from the first match, 2 from \
                         the second ... or use negative to start from the end of the list"
                            .into(),
                    ));
                }
            }
            "count" => count = Some(non_negative(value, "ERR COUNT can't be negative")?),
            "maxlen" => maxlen = non_negative(value, "ERR MAXLEN can't be negative")?,
            _ => return Err(CommandError::Syntax),
        }
        i += 2;
    }
    Ok(ListRead::Pos {
        key: arg(args, 1),
        value: arg(args, 2),
        rank,
        count,
        maxlen,
    })
}

/// The element subkey of `slot`.
fn slot_sub(slot: u64) -> Bytes {
    collection::member_sub(&slot.to_be_bytes())
}

/// Index `index` (negative from the tail) of a list of `len`, if inside.
fn resolve(index: i64, len: u64) -> Option<u64> {
    let len = i128::from(len);
    let i = i128::from(index);
    let i = if i < 0 { i + len } else { i };
    (0..len)
        .contains(&i)
        .then(|| u64::try_from(i).ok())
        .flatten()
}

/// Redis's clamp of `start..=stop` (negative from the tail) to a list of
/// `len`: the first index and how many elements, `None` when empty.
fn clamp(start: i64, stop: i64, len: u64) -> Option<(u64, u64)> {
    let len = i128::from(len);
    let norm = |i: i64| {
        let i = i128::from(i);
        if i < 0 { i + len } else { i }
    };
    let start = norm(start).max(0);
    let stop = norm(stop).min(len - 1);
    if start > stop || start >= len {
        return None;
    }
    Some((
        u64::try_from(start).ok()?,
        u64::try_from(stop - start + 1).ok()?,
    ))
}

/// How many element records a range read asks for at a time.
const PAGE: u64 = 1024;

/// `n` elements of a found list from index `start` (`start + n <= len`),
/// in order: range reads of about `n` records from slot `head + start`.
pub fn read_range<V: ReadView>(
    view: &V,
    found: &Found,
    start: u64,
    n: u64,
) -> Result<Vec<Bytes>, V::Error> {
    let mut out = Vec::with_capacity(usize::try_from(n.min(PAGE)).unwrap_or(0));
    let mut slot = found.header.head.wrapping_add(start);
    let mut left = n;
    while left > 0 {
        let want = left.min(PAGE);
        let page = view.elements(
            found.header.version,
            &slot_sub(slot),
            usize::try_from(want).unwrap_or(usize::MAX),
        )?;
        let got = page.len() as u64;
        out.extend(page.into_iter().map(|(_, value)| value));
        if got < want {
            break;
        }
        slot = slot.wrapping_add(got);
        left -= got;
    }
    Ok(out)
}

/// Visits a found list's elements with their indexes, from the head or
/// from the tail, a page at a time, until `visit` returns false.
fn walk<V: ReadView>(
    view: &V,
    found: &Found,
    from_tail: bool,
    mut visit: impl FnMut(u64, Bytes) -> bool,
) -> Result<(), V::Error> {
    let len = found.header.len;
    if from_tail {
        let mut end = len;
        while end > 0 {
            let start = end.saturating_sub(PAGE);
            let page = read_range(view, found, start, end - start)?;
            let mut i = start + page.len() as u64;
            for value in page.into_iter().rev() {
                i -= 1;
                if !visit(i, value) {
                    return Ok(());
                }
            }
            end = start;
        }
    } else {
        let mut start = 0;
        while start < len {
            let n = (len - start).min(PAGE);
            let page = read_range(view, found, start, n)?;
            for (i, value) in (start..).zip(page) {
                if !visit(i, value) {
                    return Ok(());
                }
            }
            start += n;
        }
    }
    Ok(())
}

/// A staged change to one list: a [`Change`] addressed by index.
struct List {
    change: Change,
}

impl List {
    /// A change to `found` at `key`, or to a new, empty list.
    fn open<V: ReadView>(view: &V, key: &Bytes, found: Option<Found>) -> List {
        List {
            change: Change::open(view, key, Kind::List, found),
        }
    }

    fn len(&self) -> u64 {
        self.change.len()
    }

    /// The member name (slot bytes) of index `i`.
    fn name(&self, i: u64) -> [u8; 8] {
        self.change.head().wrapping_add(i).to_be_bytes()
    }

    /// Sets element `i` (`i <= len`; at `len` the list grows by one).
    fn set<V: ReadView>(&mut self, view: &V, i: u64, value: Bytes) -> Result<(), V::Error> {
        let name = self.name(i);
        self.change.put(view, &name, value)?;
        Ok(())
    }

    fn push<V: ReadView>(&mut self, view: &V, end: End, value: Bytes) -> Result<(), V::Error> {
        match end {
            End::Left => {
                self.change.set_head(self.change.head().wrapping_sub(1));
                self.set(view, 0, value)
            }
            End::Right => self.set(view, self.len(), value),
        }
    }

    fn pop<V: ReadView>(&mut self, view: &V, end: End) -> Result<Option<Bytes>, V::Error> {
        if self.len() == 0 {
            return Ok(None);
        }
        let i = match end {
            End::Left => 0,
            End::Right => self.len() - 1,
        };
        let name = self.name(i);
        let value = self.change.take(view, &name)?;
        if end == End::Left {
            self.change.set_head(self.change.head().wrapping_add(1));
        }
        Ok(value)
    }

    /// Drops the first `n` elements: their slots deleted, the head moved.
    fn drop_front<V: ReadView>(&mut self, view: &V, n: u64) -> Result<(), V::Error> {
        for i in 0..n {
            let name = self.name(i);
            self.change.remove(view, &name)?;
        }
        self.change.set_head(self.change.head().wrapping_add(n));
        Ok(())
    }

    /// Drops the last `n` elements.
    fn drop_back<V: ReadView>(&mut self, view: &V, n: u64) -> Result<(), V::Error> {
        for _ in 0..n {
            let name = self.name(self.len() - 1);
            self.change.remove(view, &name)?;
        }
        Ok(())
    }

    fn finish<V: ReadView>(self, view: &V) -> Vec<Effect> {
        self.change.finish(view)
    }
}

fn bulk(value: Bytes) -> Outcome {
    Outcome::Value(Some(value))
}

fn bulks(values: Vec<Bytes>) -> Vec<Outcome> {
    values.into_iter().map(bulk).collect()
}

fn int(n: u64) -> Outcome {
    Outcome::Integer(i64::try_from(n).unwrap_or(i64::MAX))
}

fn error(text: &str) -> Evaluated {
    (Outcome::Error(text.into()), Vec::new())
}

/// The effects that make `dest` a new list of `values`, in order, whatever
/// it held before (SORT ... STORE), or delete it for none.
pub fn store<V: ReadView>(
    view: &V,
    dest: &Bytes,
    values: Vec<Bytes>,
) -> Result<Vec<Effect>, V::Error> {
    if values.is_empty() {
        let existed = view.contains(dest)?;
        return Ok(if existed {
            vec![Effect::delete(dest)]
        } else {
            Vec::new()
        });
    }
    let mut list = List {
        change: Change::fresh(view, dest, Kind::List),
    };
    for value in values {
        list.push(view, End::Right, value)?;
    }
    Ok(list.finish(view))
}

/// Evaluates a list write.
pub fn eval_write<V: ReadView>(op: &ListWrite, view: &V) -> Result<Evaluated, V::Error> {
    match op {
        ListWrite::Push {
            key,
            end,
            values,
            existing_only,
        } => {
            let Ok(found) = find(view, key, Kind::List)? else {
                return Ok(WrongType.into());
            };
            if found.is_none() && *existing_only {
                return Ok((Outcome::Integer(0), Vec::new()));
            }
            let mut list = List::open(view, key, found);
            for value in values {
                list.push(view, *end, value.clone())?;
            }
            Ok((int(list.len()), list.finish(view)))
        }
        ListWrite::Pop { key, end, count } => {
            let Ok(found) = find(view, key, Kind::List)? else {
                return Ok(WrongType.into());
            };
            let Some(found) = found else {
                let none = match count {
                    None => Outcome::Value(None),
                    Some(_) => Outcome::NilArray,
                };
                return Ok((none, Vec::new()));
            };
            if *count == Some(0) {
                return Ok((Outcome::Array(Vec::new()), Vec::new()));
            }
            let mut list = List::open(view, key, Some(found));
            let popped = pop_n(&mut list, view, *end, count.unwrap_or(1))?;
            let outcome = match count {
                None => Outcome::Value(popped.into_iter().next()),
                Some(_) => Outcome::Array(bulks(popped)),
            };
            Ok((outcome, list.finish(view)))
        }
        ListWrite::Set { key, index, value } => {
            let Ok(found) = find(view, key, Kind::List)? else {
                return Ok(WrongType.into());
            };
            let Some(found) = found else {
                return Ok(error("ERR no such key"));
            };
            let Some(index) = index else {
                return Ok(error(&CommandError::NotInteger.to_string()));
            };
            let Some(i) = resolve(*index, found.header.len) else {
                return Ok(error("ERR index out of range"));
            };
            let mut list = List::open(view, key, Some(found));
            list.set(view, i, value.clone())?;
            Ok((Outcome::Ok, list.finish(view)))
        }
        ListWrite::Insert {
            key,
            after,
            pivot,
            value,
        } => {
            let Ok(found) = find(view, key, Kind::List)? else {
                return Ok(WrongType.into());
            };
            let Some(found) = found else {
                return Ok((Outcome::Integer(0), Vec::new()));
            };
            insert(view, key, found, *after, pivot, value)
        }
        ListWrite::Rem { key, count, value } => {
            let Ok(found) = find(view, key, Kind::List)? else {
                return Ok(WrongType.into());
            };
            let Some(found) = found else {
                return Ok((Outcome::Integer(0), Vec::new()));
            };
            rem(view, key, found, *count, value)
        }
        ListWrite::Trim { key, start, stop } => {
            let Ok(found) = find(view, key, Kind::List)? else {
                return Ok(WrongType.into());
            };
            let Some(found) = found else {
                return Ok((Outcome::Ok, Vec::new()));
            };
            let len = found.header.len;
            let Some((first, n)) = clamp(*start, *stop, len) else {
                return Ok((Outcome::Ok, vec![Effect::delete(key)]));
            };
            let mut list = List::open(view, key, Some(found));
            list.drop_back(view, len - first - n)?;
            list.drop_front(view, first)?;
            Ok((Outcome::Ok, list.finish(view)))
        }
        ListWrite::Move {
            from,
            to,
            from_end,
            to_end,
        } => lmove(view, from, to, *from_end, *to_end),
        ListWrite::MPop { keys, end, count } => Ok(match pop_first(view, keys, *end, *count)? {
            Ok(Some((key, popped, effects))) => {
                let items = Outcome::Array(bulks(popped));
                (Outcome::Array(vec![bulk(key), items]), effects)
            }
            Ok(None) => (Outcome::NilArray, Vec::new()),
            Err(WrongType) => WrongType.into(),
        }),
        ListWrite::BPop { keys, end } => Ok(match pop_first(view, keys, *end, 1)? {
            Ok(Some((key, popped, effects))) => {
                let mut items = vec![bulk(key)];
                items.extend(bulks(popped));
                (Outcome::Array(items), effects)
            }
            Ok(None) => (Outcome::NilArray, Vec::new()),
            Err(WrongType) => WrongType.into(),
        }),
    }
}

/// A pop from one of several lists: the key, the elements in popping
/// order, and the effects.
type Popped = (Bytes, Vec<Bytes>, Vec<Effect>);

/// What LMPOP and BLPOP pop: up to `count` elements from `end` of the
/// first of `keys` that holds a list; `None` if none does; `WrongType` at
/// the first key of another type before it.
fn pop_first<V: ReadView>(
    view: &V,
    keys: &[Bytes],
    end: End,
    count: u64,
) -> Result<Result<Option<Popped>, WrongType>, V::Error> {
    for key in keys {
        let Ok(found) = find(view, key, Kind::List)? else {
            return Ok(Err(WrongType));
        };
        let Some(found) = found else {
            continue;
        };
        let mut list = List::open(view, key, Some(found));
        let popped = pop_n(&mut list, view, end, count)?;
        return Ok(Ok(Some((key.clone(), popped, list.finish(view)))));
    }
    Ok(Ok(None))
}

/// Pops up to `count` elements from one end, in popping order.
fn pop_n<V: ReadView>(
    list: &mut List,
    view: &V,
    end: End,
    count: u64,
) -> Result<Vec<Bytes>, V::Error> {
    let n = count.min(list.len());
    let mut popped = Vec::with_capacity(usize::try_from(n.min(PAGE)).unwrap_or(0));
    for _ in 0..n {
        popped.extend(list.pop(view, end)?);
    }
    Ok(popped)
}

/// LMOVE in Redis's order: a missing source is nil whatever the
/// destination holds; then the destination's type; then the move (onto
/// the same list, a rotation).
fn lmove<V: ReadView>(
    view: &V,
    from: &Bytes,
    to: &Bytes,
    from_end: End,
    to_end: End,
) -> Result<Evaluated, V::Error> {
    let Ok(source) = find(view, from, Kind::List)? else {
        return Ok(WrongType.into());
    };
    let Some(source) = source else {
        return Ok((Outcome::Value(None), Vec::new()));
    };
    let Ok(dest) = find(view, to, Kind::List)? else {
        return Ok(WrongType.into());
    };
    let mut out = List::open(view, from, Some(source));
    let Some(value) = out.pop(view, from_end)? else {
        return Ok((Outcome::Value(None), Vec::new()));
    };
    if from == to {
        out.push(view, to_end, value.clone())?;
        return Ok((bulk(value), out.finish(view)));
    }
    let mut into = List::open(view, to, dest);
    into.push(view, to_end, value.clone())?;
    let mut effects = out.finish(view);
    effects.extend(into.finish(view));
    Ok((bulk(value), effects))
}

/// LINSERT on a found list: finds the pivot from the head, then moves the
/// elements between the insertion point and the nearer end one slot out.
fn insert<V: ReadView>(
    view: &V,
    key: &Bytes,
    found: Found,
    after: bool,
    pivot: &Bytes,
    value: &Bytes,
) -> Result<Evaluated, V::Error> {
    let mut before_pivot = Vec::new();
    let mut at = None;
    walk(view, &found, false, |i, element| {
        if element == *pivot {
            at = Some(i);
            if after {
                before_pivot.push(element);
            }
            return false;
        }
        before_pivot.push(element);
        true
    })?;
    let Some(at) = at else {
        return Ok((Outcome::Integer(-1), Vec::new()));
    };
    let len = found.header.len;
    // The new element's index, and the elements before it (read already).
    let q = if after { at + 1 } else { at };
    let mut list = List::open(view, key, Some(found));
    if q <= len - q {
        // Shift the q elements before it one slot left (the head moves).
        list.change.set_head(list.change.head().wrapping_sub(1));
        for (i, element) in (0..).zip(before_pivot) {
            list.set(view, i, element)?;
        }
    } else {
        // Shift the elements from q on one slot right.
        let tail = read_range(view, &found, q, len - q)?;
        for (i, element) in (q + 1..).zip(tail) {
            list.set(view, i, element)?;
        }
    }
    list.set(view, q, value.clone())?;
    Ok((int(list.len()), list.finish(view)))
}

/// LREM on a found list: removes the matches, then closes the gaps by
/// moving the survivors between the first and the last removal toward the
/// end that makes fewer moves.
fn rem<V: ReadView>(
    view: &V,
    key: &Bytes,
    found: Found,
    count: i64,
    value: &Bytes,
) -> Result<Evaluated, V::Error> {
    let len = found.header.len;
    let all = read_range(view, &found, 0, len)?;
    let limit = if count == 0 {
        u64::MAX
    } else {
        count.unsigned_abs()
    };
    let mut removed = vec![false; all.len()];
    let mut n = 0u64;
    let order: Box<dyn Iterator<Item = usize>> = if count < 0 {
        Box::new((0..all.len()).rev())
    } else {
        Box::new(0..all.len())
    };
    for i in order {
        if n == limit {
            break;
        }
        if all[i] == *value {
            removed[i] = true;
            n += 1;
        }
    }
    let (Some(first), Some(last)) = (
        removed.iter().position(|r| *r),
        removed.iter().rposition(|r| *r),
    ) else {
        return Ok((Outcome::Integer(0), Vec::new()));
    };
    if n == len {
        return Ok((int(n), vec![Effect::delete(key)]));
    }
    let mut list = List::open(view, key, Some(found));
    let survivors = |range: std::ops::Range<usize>| {
        range
            .filter(|i| !removed[*i])
            .map(|i| all[i].clone())
            .collect::<Vec<_>>()
    };
    if all.len() - first <= last + 1 {
        // Close the gaps toward the tail: survivors from `first` on move
        // left, the last `n` slots go.
        let kept = survivors(first..all.len());
        for (i, element) in (first as u64..).zip(kept) {
            list.set(view, i, element)?;
        }
        list.drop_back(view, n)?;
    } else {
        // Close them toward the head: survivors up to `last` move right,
        // the first `n` slots go.
        let kept = survivors(0..last + 1);
        let start = last as u64 + 1 - kept.len() as u64;
        for (i, element) in (start..).zip(kept) {
            list.set(view, i, element)?;
        }
        list.drop_front(view, n)?;
    }
    Ok((int(n), list.finish(view)))
}

/// Evaluates a list read.
pub fn eval_read<V: ReadView>(op: &ListRead, view: &V) -> Result<Outcome, V::Error> {
    let key = match op {
        ListRead::Len { key }
        | ListRead::Index { key, .. }
        | ListRead::Range { key, .. }
        | ListRead::Pos { key, .. } => key,
    };
    let Ok(found) = find(view, key, Kind::List)? else {
        return Ok(WrongType.into());
    };
    Ok(match op {
        ListRead::Len { .. } => int(found.map_or(0, |f| f.header.len)),
        ListRead::Index { index, .. } => {
            let Some(found) = found else {
                return Ok(Outcome::Value(None));
            };
            let Some(index) = index else {
                return Ok(Outcome::Error(CommandError::NotInteger.to_string()));
            };
            match resolve(*index, found.header.len) {
                Some(i) => {
                    let slot = found.header.head.wrapping_add(i);
                    Outcome::Value(view.element(found.header.version, &slot_sub(slot))?)
                }
                None => Outcome::Value(None),
            }
        }
        ListRead::Range { start, stop, .. } => {
            let Some(found) = found else {
                return Ok(Outcome::Array(Vec::new()));
            };
            match clamp(*start, *stop, found.header.len) {
                Some((first, n)) => Outcome::Array(bulks(read_range(view, &found, first, n)?)),
                None => Outcome::Array(Vec::new()),
            }
        }
        ListRead::Pos {
            value,
            rank,
            count,
            maxlen,
            ..
        } => {
            let Some(found) = found else {
                return Ok(match count {
                    Some(_) => Outcome::Array(Vec::new()),
                    None => Outcome::Value(None),
                });
            };
            let hits = lpos(view, &found, value, *rank, count.unwrap_or(1), *maxlen)?;
            match count {
                Some(_) => Outcome::Array(hits.into_iter().map(int).collect()),
                None => hits.first().map_or(Outcome::Value(None), |i| int(*i)),
            }
        }
    })
}

/// The indexes of the matches of `value`, skipping the first `|rank| - 1`
/// (from the tail for a negative rank), at most `count` of them (0: all),
/// comparing at most `maxlen` elements (0: all).
fn lpos<V: ReadView>(
    view: &V,
    found: &Found,
    value: &Bytes,
    rank: i64,
    count: u64,
    maxlen: u64,
) -> Result<Vec<u64>, V::Error> {
    // Redis negates i64::MIN into itself, so every match counts from the
    // first: as rank -1.
    let skip = if rank == i64::MIN {
        0
    } else {
        rank.unsigned_abs() - 1
    };
    let mut hits = Vec::new();
    let mut seen = 0u64;
    let mut examined = 0u64;
    walk(view, found, rank < 0, |i, element| {
        if maxlen != 0 && examined == maxlen {
            return false;
        }
        examined += 1;
        if element == *value {
            seen += 1;
            if seen > skip {
                hits.push(i);
                if count != 0 && hits.len() as u64 == count {
                    return false;
                }
            }
        }
        true
    })?;
    Ok(hits)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};

    use bytes::Bytes;

    use super::{clamp, resolve};
    use crate::command::collection::NEW_HEAD;
    use crate::command::op::testing::{self, MapView, b};
    use crate::command::op::{Collection, Kind, Outcome, Value};

    /// Runs one command; each write is its own transaction, with a stamp
    /// of its own (the stamp names the lists it creates).
    fn run(view: &mut MapView, line: &str) -> Outcome {
        static STAMP: AtomicU64 = AtomicU64::new(1);
        testing::run(view, STAMP.fetch_add(1, Ordering::Relaxed), line)
    }

    fn list(items: &str) -> Outcome {
        Outcome::Array(
            items
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(|s| Outcome::Value(Some(b(s))))
                .collect(),
        )
    }

    fn header(view: &MapView, key: &str) -> Option<Collection> {
        view.2.get(&b(key)).copied()
    }

    /// The list's element records are exactly its slots
    /// `head..head + len`, and its elements are `items`.
    fn check(view: &mut MapView, key: &str, items: &str) {
        assert_eq!(run(view, &format!("LRANGE {key} 0 -1")), list(items));
        let n = items.split(' ').filter(|s| !s.is_empty()).count() as u64;
        let Some(h) = header(view, key) else {
            assert_eq!(n, 0, "{key} is gone");
            return;
        };
        assert_eq!(h.kind, Kind::List);
        assert_eq!(h.len, n);
        let records: Vec<&Bytes> = view
            .3
            .keys()
            .filter(|(v, _)| *v == h.version)
            .map(|(_, sub)| sub)
            .collect();
        let want: Vec<Bytes> = (0..n).map(|i| super::slot_sub(h.head + i)).collect();
        assert_eq!(records, want.iter().collect::<Vec<_>>());
    }

    #[test]
    fn pushes_and_pops_at_both_ends_keep_order() {
        let mut v = MapView::default();
        assert_eq!(run(&mut v, "RPUSH l c d"), Outcome::Integer(2));
        assert_eq!(run(&mut v, "LPUSH l b a"), Outcome::Integer(4));
        assert_eq!(run(&mut v, "RPUSH l e"), Outcome::Integer(5));
        check(&mut v, "l", "a b c d e");
        assert_eq!(header(&v, "l").map(|h| h.head), Some(NEW_HEAD - 2));
        assert_eq!(run(&mut v, "LPOP l"), Outcome::Value(Some(b("a"))));
        assert_eq!(run(&mut v, "RPOP l 2"), list("e d"));
        assert_eq!(run(&mut v, "LPOP l 0"), list(""));
        check(&mut v, "l", "b c");
        assert_eq!(run(&mut v, "LINDEX l -1"), Outcome::Value(Some(b("c"))));
        assert_eq!(run(&mut v, "LLEN l"), Outcome::Integer(2));
        assert_eq!(run(&mut v, "LPOP l 5"), list("b c"));
        assert_eq!(header(&v, "l"), None, "the last pop deletes the key");
        assert_eq!(run(&mut v, "LPOP l"), Outcome::Value(None));
        assert_eq!(run(&mut v, "LPOP l 1"), Outcome::NilArray);
        assert_eq!(run(&mut v, "LPUSHX l a"), Outcome::Integer(0));
        assert_eq!(run(&mut v, "EXISTS l"), Outcome::Integer(0));
    }

    #[test]
    fn lrange_and_lindex_take_negative_indexes() {
        let mut v = MapView::default();
        run(&mut v, "RPUSH l a b c d e");
        assert_eq!(run(&mut v, "LRANGE l -3 -2"), list("c d"));
        assert_eq!(run(&mut v, "LRANGE l -100 1"), list("a b"));
        assert_eq!(run(&mut v, "LRANGE l 3 100"), list("d e"));
        assert_eq!(run(&mut v, "LRANGE l 4 3"), list(""));
        assert_eq!(run(&mut v, "LRANGE l 5 10"), list(""));
        assert_eq!(run(&mut v, "LRANGE l -1 -5"), list(""));
        assert_eq!(run(&mut v, "LINDEX l -5"), Outcome::Value(Some(b("a"))));
        assert_eq!(run(&mut v, "LINDEX l -6"), Outcome::Value(None));
        assert_eq!(run(&mut v, "LINDEX l 5"), Outcome::Value(None));
        assert_eq!(clamp(i64::MIN, i64::MAX, 3), Some((0, 3)));
        assert_eq!(clamp(0, -1, 0), None);
        assert_eq!(resolve(i64::MIN, 3), None);
        assert_eq!(resolve(-3, 3), Some(0));
    }

    #[test]
    fn linsert_lrem_ltrim_and_lset() {
        let mut v = MapView::default();
        run(&mut v, "RPUSH l a b c d e f");
        // Near the head: the front moves left.
        assert_eq!(run(&mut v, "LINSERT l BEFORE b x"), Outcome::Integer(7));
        check(&mut v, "l", "a x b c d e f");
        // Near the tail: the back moves right.
        assert_eq!(run(&mut v, "LINSERT l AFTER e y"), Outcome::Integer(8));
        check(&mut v, "l", "a x b c d e y f");
        assert_eq!(run(&mut v, "LINSERT l AFTER f z"), Outcome::Integer(9));
        assert_eq!(run(&mut v, "LINSERT l BEFORE a w"), Outcome::Integer(10));
        check(&mut v, "l", "w a x b c d e y f z");
        assert_eq!(run(&mut v, "LINSERT l BEFORE nope q"), Outcome::Integer(-1));
        assert_eq!(run(&mut v, "LINSERT none BEFORE a q"), Outcome::Integer(0));
        assert_eq!(run(&mut v, "LSET l -1 Z"), Outcome::Ok);
        assert_eq!(
            run(&mut v, "LSET l 10 Z"),
            Outcome::Error("ERR index out of range".into())
        );
        check(&mut v, "l", "w a x b c d e y f Z");

        let mut v = MapView::default();
        run(&mut v, "RPUSH r x a x b x c x d x");
        assert_eq!(run(&mut v, "LREM r 2 x"), Outcome::Integer(2));
        check(&mut v, "r", "a b x c x d x");
        assert_eq!(run(&mut v, "LREM r -2 x"), Outcome::Integer(2));
        check(&mut v, "r", "a b x c d");
        assert_eq!(run(&mut v, "LREM r 0 nope"), Outcome::Integer(0));
        run(&mut v, "RPUSH r x x");
        assert_eq!(run(&mut v, "LREM r 0 x"), Outcome::Integer(3));
        check(&mut v, "r", "a b c d");
        assert_eq!(run(&mut v, "LREM r 1 a"), Outcome::Integer(1));
        check(&mut v, "r", "b c d");
        run(&mut v, "RPUSH r b");
        assert_eq!(run(&mut v, "LREM r 0 b"), Outcome::Integer(2));
        check(&mut v, "r", "c d");
        assert_eq!(run(&mut v, "LREM r 0 c"), Outcome::Integer(1));
        assert_eq!(run(&mut v, "LREM r 0 d"), Outcome::Integer(1));
        check(&mut v, "r", "");

        let mut v = MapView::default();
        run(&mut v, "RPUSH t a b c d e f");
        assert_eq!(run(&mut v, "LTRIM t 1 -2"), Outcome::Ok);
        check(&mut v, "t", "b c d e");
        assert_eq!(run(&mut v, "LTRIM t -100 100"), Outcome::Ok);
        check(&mut v, "t", "b c d e");
        assert_eq!(run(&mut v, "LTRIM t 2 2"), Outcome::Ok);
        check(&mut v, "t", "d");
        assert_eq!(run(&mut v, "LTRIM t 1 0"), Outcome::Ok);
        check(&mut v, "t", "");
    }

    #[test]
    fn lpos_ranks_counts_and_maxlen() {
        let mut v = MapView::default();
        run(&mut v, "RPUSH l a b c 1 2 3 c c");
        let int = Outcome::Integer;
        assert_eq!(run(&mut v, "LPOS l c"), int(2));
        assert_eq!(run(&mut v, "LPOS l c RANK 2"), int(6));
        assert_eq!(run(&mut v, "LPOS l c RANK -1"), int(7));
        assert_eq!(run(&mut v, "LPOS l c RANK -3"), int(2));
        assert_eq!(run(&mut v, "LPOS l c RANK 4"), Outcome::Value(None));
        assert_eq!(
            run(&mut v, "LPOS l c COUNT 0"),
            Outcome::Array(vec![int(2), int(6), int(7)])
        );
        assert_eq!(
            run(&mut v, "LPOS l c COUNT 2 RANK -1"),
            Outcome::Array(vec![int(7), int(6)])
        );
        assert_eq!(
            run(&mut v, "LPOS l c COUNT 0 MAXLEN 7"),
            Outcome::Array(vec![int(2), int(6)])
        );
        assert_eq!(run(&mut v, "LPOS l c MAXLEN 2"), Outcome::Value(None));
        assert_eq!(run(&mut v, "LPOS l c RANK -9223372036854775808"), int(7));
    }

    #[test]
    fn lmove_rotates_and_moves_between_lists() {
        let mut v = MapView::default();
        run(&mut v, "RPUSH l a b c");
        assert_eq!(
            run(&mut v, "LMOVE l l LEFT RIGHT"),
            Outcome::Value(Some(b("a")))
        );
        check(&mut v, "l", "b c a");
        assert_eq!(run(&mut v, "RPOPLPUSH l l"), Outcome::Value(Some(b("a"))));
        check(&mut v, "l", "a b c");
        assert_eq!(
            run(&mut v, "LMOVE l m RIGHT RIGHT"),
            Outcome::Value(Some(b("c")))
        );
        assert_eq!(
            run(&mut v, "LMOVE l m LEFT LEFT"),
            Outcome::Value(Some(b("a")))
        );
        assert_eq!(
            run(&mut v, "LMOVE l m LEFT RIGHT"),
            Outcome::Value(Some(b("b")))
        );
        check(&mut v, "l", "");
        check(&mut v, "m", "a c b");
        run(&mut v, "RPUSH one x");
        assert_eq!(
            run(&mut v, "LMOVE one one LEFT LEFT"),
            Outcome::Value(Some(b("x")))
        );
        check(&mut v, "one", "x");
        assert_eq!(run(&mut v, "LMOVE none m LEFT LEFT"), Outcome::Value(None));
        assert_eq!(
            run(&mut v, "LMPOP 3 none one m RIGHT COUNT 5"),
            Outcome::Array(vec![Outcome::Value(Some(b("one"))), list("x")])
        );
        assert_eq!(
            run(&mut v, "LMPOP 2 one m RIGHT COUNT 2"),
            Outcome::Array(vec![Outcome::Value(Some(b("m"))), list("b c")])
        );
        assert_eq!(run(&mut v, "LMPOP 1 none LEFT"), Outcome::NilArray);
    }

    /// Slots are plain u64 arithmetic around the head, which may sit
    /// anywhere, including next to either end of the slot space.
    #[test]
    fn slot_arithmetic_near_both_ends() {
        for head in [0u64, 1, u64::MAX - 2, u64::MAX] {
            let mut v = MapView::default();
            run(&mut v, "RPUSH l a");
            let mut h = header(&v, "l").expect("a list");
            let old = h.version;
            // Move the one element to slot `head`.
            let value = v.3.remove(&(old, super::slot_sub(h.head))).expect("a");
            v.3.insert((old, super::slot_sub(head)), value);
            h.head = head;
            v.2.insert(b("l"), h);
            if head < u64::MAX {
                run(&mut v, "RPUSH l b");
                check(&mut v, "l", "a b");
                assert_eq!(run(&mut v, "LINDEX l 1"), Outcome::Value(Some(b("b"))));
                assert_eq!(run(&mut v, "RPOP l"), Outcome::Value(Some(b("b"))));
            }
            if head > 0 {
                run(&mut v, "LPUSH l z");
                check(&mut v, "l", "z a");
                assert_eq!(run(&mut v, "LPOP l"), Outcome::Value(Some(b("z"))));
            }
            check(&mut v, "l", "a");
            assert_eq!(run(&mut v, "LSET l 0 q"), Outcome::Ok);
            assert_eq!(run(&mut v, "LRANGE l 0 -1"), list("q"));
            assert!(matches!(
                v.2.get(&b("l")).map(|c| Value::Collection(*c)),
                Some(Value::Collection(c)) if c.head == head
            ));
        }
    }

    #[test]
    fn wrong_types_and_deferred_errors_in_redis_order() {
        let mut v = MapView::default();
        run(&mut v, "SET s v");
        run(&mut v, "RPUSH l a");
        let wrong = Outcome::Error(crate::command::op::WRONGTYPE.into());
        for line in [
            "LPUSH s a",
            "LPOP s",
            "LLEN s",
            "LRANGE s 0 -1",
            "LINDEX s x",
            "LSET s x v",
            "LMOVE l s LEFT LEFT",
            "LMOVE s l LEFT LEFT",
            "LMPOP 2 none s LEFT",
        ] {
            assert_eq!(run(&mut v, line), wrong, "{line}");
        }
        assert_eq!(run(&mut v, "LMOVE none s LEFT LEFT"), Outcome::Value(None));
        assert_eq!(
            run(&mut v, "LMPOP 2 l s LEFT"),
            Outcome::Array(vec![Outcome::Value(Some(b("l"))), list("a")])
        );
        assert_eq!(run(&mut v, "LINDEX none x"), Outcome::Value(None));
        assert_eq!(
            run(&mut v, "LSET none x v"),
            Outcome::Error("ERR no such key".into())
        );
        use crate::command::op::testing::parse_err;
        assert_eq!(
            parse_err("LPOP l -1"),
            "ERR value is out of range, must be positive"
        );
        assert_eq!(
            parse_err("LMPOP 0 l LEFT"),
            "ERR numkeys should be greater than 0"
        );
        assert_eq!(parse_err("LMPOP 2 l LEFT"), "ERR syntax error");
        assert_eq!(
            parse_err("LMPOP 1 l LEFT COUNT 0"),
            "ERR count should be greater than 0"
        );
        assert_eq!(
            parse_err("LPOS l a COUNT -1"),
            "ERR COUNT can't be negative"
        );
        assert!(parse_err("LPOS l a RANK 0").starts_with("ERR RANK can't be zero"));
    }
}
