//! Set commands: SADD, SREM, SPOP, SMOVE, SINTERSTORE, SUNIONSTORE,
//! SDIFFSTORE (writes) and SCARD, SISMEMBER, SMISMEMBER, SMEMBERS,
//! SRANDMEMBER, SINTER, SUNION, SDIFF, SINTERCARD, SSCAN (reads).
//!
//! A set is a collection ([`super::collection`]): its header in the key's
//! record, one empty element record per member. SCARD and SISMEMBER are
//! point reads; SMEMBERS and the set algebra read members in byte order
//! (Redis's order is its own, which no client may rely on). SPOP and
//! SRANDMEMBER draw from the view's random sequence, which for a write is
//! seeded by the transaction's stamp, so every replica pops the same
//! members. The last member going deletes the key, as in Redis.
//!
//! As in Redis 7.0, the multi-key commands check every key's type before
//! anything else, and a missing key is an empty set.

use std::collections::BTreeSet;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::collection::{self, Change, Found, find};
use super::op::{Effect, Evaluated, Kind, Outcome, ReadView, WrongType};
use super::{CommandError, option_name, parse_i64};

/// Set intersection, union or difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Algebra {
    /// SINTER.
    Inter,
    /// SUNION.
    Union,
    /// SDIFF.
    Diff,
}

/// A set command that writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetWrite {
    /// SADD key member \[member ...\]: how many are new.
    Add {
        /// The key.
        key: Bytes,
        /// The members.
        members: Vec<Bytes>,
    },
    /// SREM key member \[member ...\]: how many were removed.
    Rem {
        /// The key.
        key: Bytes,
        /// The members.
        members: Vec<Bytes>,
    },
    /// SPOP key \[count\].
    Pop {
        /// The key.
        key: Bytes,
        /// The count, if given.
        count: Option<u64>,
    },
    /// SMOVE source destination member.
    Move {
        /// The source.
        from: Bytes,
        /// The destination.
        to: Bytes,
        /// The member.
        member: Bytes,
    },
    /// SINTERSTORE / SUNIONSTORE / SDIFFSTORE destination key \[key ...\].
    Store {
        /// Which operation.
        op: Algebra,
        /// The destination.
        dest: Bytes,
        /// The sources.
        keys: Vec<Bytes>,
    },
}

/// A set command that only reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum SetRead {
    /// SCARD key.
    Card {
        /// The key.
        key: Bytes,
    },
    /// SISMEMBER key member (`multi`: false) and SMISMEMBER key member
    /// \[member ...\].
    IsMember {
        /// The key.
        key: Bytes,
        /// The members.
        members: Vec<Bytes>,
        /// SMISMEMBER: an array.
        multi: bool,
    },
    /// SMEMBERS key.
    Members {
        /// The key.
        key: Bytes,
    },
    /// SRANDMEMBER key \[count\].
    RandMember {
        /// The key.
        key: Bytes,
        /// The count, if given.
        count: Option<i64>,
    },
    /// SINTER / SUNION / SDIFF key \[key ...\].
    Algebra {
        /// Which operation.
        op: Algebra,
        /// The keys.
        keys: Vec<Bytes>,
    },
    /// SINTERCARD numkeys key \[key ...\] \[LIMIT limit\].
    InterCard {
        /// The keys.
        keys: Vec<Bytes>,
        /// Stop counting here (0: no limit).
        limit: u64,
    },
    /// SSCAN key cursor \[MATCH pattern\] \[COUNT count\].
    Scan {
        /// The key.
        key: Bytes,
        /// The scan's options.
        scan: collection::ElementScan,
    },
}

impl SetWrite {
    /// The keys written or read.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            SetWrite::Add { key, .. } | SetWrite::Rem { key, .. } | SetWrite::Pop { key, .. } => {
                vec![key]
            }
            SetWrite::Move { from, to, .. } => vec![from, to],
            SetWrite::Store { dest, keys, .. } => std::iter::once(dest).chain(keys).collect(),
        }
    }
}

impl SetRead {
    /// Whether it reads every member of a set (see
    /// [`super::op::ReadOp::is_heavy`]).
    pub fn is_heavy(&self) -> bool {
        !matches!(self, SetRead::Card { .. } | SetRead::IsMember { .. })
    }

    /// The keys read.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            SetRead::Card { key }
            | SetRead::IsMember { key, .. }
            | SetRead::Members { key }
            | SetRead::RandMember { key, .. }
            | SetRead::Scan { key, .. } => vec![key],
            SetRead::Algebra { keys, .. } | SetRead::InterCard { keys, .. } => {
                keys.iter().collect()
            }
        }
    }
}

fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

fn rest(args: &[Bytes], from: usize) -> Vec<Bytes> {
    args.iter().skip(from).cloned().collect()
}

/// The set writes (`name` lowercased, arity checked).
pub fn parse_write(name: &str, args: &[Bytes]) -> Result<SetWrite, CommandError> {
    Ok(match name {
        "sadd" => SetWrite::Add {
            key: arg(args, 1),
            members: rest(args, 2),
        },
        "srem" => SetWrite::Rem {
            key: arg(args, 1),
            members: rest(args, 2),
        },
        "spop" => {
            let count = match args.len() {
                2 => None,
                3 => Some(
                    parse_i64(&arg(args, 2))
                        .ok()
                        .and_then(|n| u64::try_from(n).ok())
                        .ok_or_else(|| {
                            CommandError::Other(
                                "ERR value is out of range, must be positive".into(),
                            )
                        })?,
                ),
                _ => return Err(CommandError::Syntax),
            };
            SetWrite::Pop {
                key: arg(args, 1),
                count,
            }
        }
        "smove" => SetWrite::Move {
            from: arg(args, 1),
            to: arg(args, 2),
            member: arg(args, 3),
        },
        _ => SetWrite::Store {
            op: match name {
                "sinterstore" => Algebra::Inter,
                "sunionstore" => Algebra::Union,
                _ => Algebra::Diff,
            },
            dest: arg(args, 1),
            keys: rest(args, 2),
        },
    })
}

/// The set reads (`name` lowercased, arity checked).
pub fn parse_read(name: &str, args: &[Bytes]) -> Result<SetRead, CommandError> {
    let key = arg(args, 1);
    Ok(match name {
        "scard" => SetRead::Card { key },
        "sismember" => SetRead::IsMember {
            key,
            members: rest(args, 2),
            multi: false,
        },
        "smismember" => SetRead::IsMember {
            key,
            members: rest(args, 2),
            multi: true,
        },
        "smembers" => SetRead::Members { key },
        "srandmember" => SetRead::RandMember {
            key,
            count: collection::parse_rand_count(args, false)?.0,
        },
        "sinter" | "sunion" | "sdiff" => SetRead::Algebra {
            op: match name {
                "sinter" => Algebra::Inter,
                "sunion" => Algebra::Union,
                _ => Algebra::Diff,
            },
            keys: rest(args, 1),
        },
        "sintercard" => parse_intercard(args)?,
        _ => SetRead::Scan {
            key,
            scan: collection::parse_element_scan(args)?,
        },
    })
}

/// `SINTERCARD numkeys key \[key ...\] \[LIMIT limit\]`, checked as Redis 7.0
/// checks it.
fn parse_intercard(args: &[Bytes]) -> Result<SetRead, CommandError> {
    let numkeys = parse_i64(&arg(args, 1)).unwrap_or(0);
    if numkeys <= 0 {
        return Err(CommandError::Other(
            "ERR numkeys should be greater than 0".into(),
        ));
    }
    let available = args.len() - 2;
    let numkeys = usize::try_from(numkeys).unwrap_or(usize::MAX);
    if numkeys > available {
        return Err(CommandError::Other(
            "ERR Number of keys can't be greater than number of args".into(),
        ));
    }
    let keys = args[2..2 + numkeys].to_vec();
    let mut limit = 0u64;
    let mut i = 2 + numkeys;
    while let Some(opt) = args.get(i) {
        match (option_name(opt).as_str(), args.get(i + 1)) {
            ("limit", Some(value)) => {
                limit = parse_i64(value)
                    .ok()
                    .and_then(|n| u64::try_from(n).ok())
                    .ok_or_else(|| CommandError::Other("ERR LIMIT can't be negative".into()))?;
                i += 2;
            }
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(SetRead::InterCard { keys, limit })
}

/// Every key's set (missing ones empty), or WRONGTYPE if any holds
/// something else.
fn find_all<V: ReadView>(
    view: &V,
    keys: &[Bytes],
) -> Result<Result<Vec<Option<Found>>, WrongType>, V::Error> {
    let mut sets = Vec::with_capacity(keys.len());
    for key in keys {
        match find(view, key, Kind::Set)? {
            Ok(found) => sets.push(found),
            Err(wrong) => return Ok(Err(wrong)),
        }
    }
    Ok(Ok(sets))
}

/// The members of a found set, in byte order.
fn members<V: ReadView>(view: &V, found: Option<&Found>) -> Result<Vec<Bytes>, V::Error> {
    Ok(collection::all_members(view, found)?
        .into_iter()
        .map(|(m, _)| m)
        .collect())
}

/// Whether `member` is in a found set.
fn has<V: ReadView>(view: &V, found: Option<&Found>, member: &[u8]) -> Result<bool, V::Error> {
    match found {
        None => Ok(false),
        Some(f) => Ok(view
            .element(f.header.version, &collection::member_sub(member))?
            .is_some()),
    }
}

/// The result of a set operation over `sets`, in byte order; an
/// intersection stops once it has `limit` members (0: no limit).
fn compute<V: ReadView>(
    view: &V,
    op: Algebra,
    sets: &[Option<Found>],
    limit: u64,
) -> Result<Vec<Bytes>, V::Error> {
    match op {
        Algebra::Inter => {
            if sets.iter().any(Option::is_none) {
                return Ok(Vec::new());
            }
            // Walk the smallest set, probe the others.
            let Some(smallest) = sets.iter().flatten().min_by_key(|f| f.header.len) else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for member in members(view, Some(smallest))? {
                let mut everywhere = true;
                for other in sets.iter().flatten() {
                    if other.header.version != smallest.header.version
                        && !has(view, Some(other), &member)?
                    {
                        everywhere = false;
                        break;
                    }
                }
                if everywhere {
                    out.push(member);
                    if limit != 0 && out.len() as u64 >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        }
        Algebra::Union => {
            let mut all = BTreeSet::new();
            for set in sets.iter().flatten() {
                all.extend(members(view, Some(set))?);
            }
            Ok(all.into_iter().collect())
        }
        Algebra::Diff => {
            let Some(Some(first)) = sets.first() else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            'member: for member in members(view, Some(first))? {
                for other in sets.iter().skip(1).flatten() {
                    if other.header.version == first.header.version
                        || has(view, Some(other), &member)?
                    {
                        continue 'member;
                    }
                }
                out.push(member);
            }
            Ok(out)
        }
    }
}

fn bulks(members: Vec<Bytes>) -> Vec<Outcome> {
    members
        .into_iter()
        .map(|m| Outcome::Value(Some(m)))
        .collect()
}

/// Evaluates a set write.
pub fn eval_write<V: ReadView>(op: &SetWrite, view: &V) -> Result<Evaluated, V::Error> {
    match op {
        SetWrite::Add { key, members } | SetWrite::Rem { key, members } => {
            let Ok(found) = find(view, key, Kind::Set)? else {
                return Ok(WrongType.into());
            };
            let adding = matches!(op, SetWrite::Add { .. });
            if !adding && found.is_none() {
                return Ok((Outcome::Integer(0), Vec::new()));
            }
            let mut change = Change::open(view, key, Kind::Set, found);
            let mut n = 0;
            for m in members {
                let did = if adding {
                    change.put(view, m, Bytes::new())?
                } else {
                    change.remove(view, m)?
                };
                n += i64::from(did);
            }
            let effects = if n > 0 {
                change.finish(view)
            } else {
                Vec::new()
            };
            Ok((Outcome::Integer(n), effects))
        }
        SetWrite::Pop { key, count } => {
            let Ok(found) = find(view, key, Kind::Set)? else {
                return Ok(WrongType.into());
            };
            let Some(found) = found else {
                let none = match count {
                    None => Outcome::Value(None),
                    Some(_) => Outcome::Set(Vec::new()),
                };
                return Ok((none, Vec::new()));
            };
            let all = members(view, Some(&found))?;
            let want = count.map_or(1, |c| usize::try_from(c).unwrap_or(usize::MAX));
            let picks = collection::distinct_indices(view, all.len(), want);
            if picks.is_empty() {
                return Ok((Outcome::Set(Vec::new()), Vec::new()));
            }
            let mut change = Change::open(view, key, Kind::Set, Some(found));
            let mut popped = Vec::with_capacity(picks.len());
            for i in picks {
                change.remove(view, &all[i])?;
                popped.push(all[i].clone());
            }
            let outcome = match count {
                None => Outcome::Value(popped.pop()),
                Some(_) => Outcome::Set(bulks(popped)),
            };
            Ok((outcome, change.finish(view)))
        }
        SetWrite::Move { from, to, member } => {
            let Ok(source) = find(view, from, Kind::Set)? else {
                return Ok(WrongType.into());
            };
            let Some(source) = source else {
                return Ok((Outcome::Integer(0), Vec::new()));
            };
            let Ok(dest) = find(view, to, Kind::Set)? else {
                return Ok(WrongType.into());
            };
            if from == to {
                let here = has(view, Some(&source), member)?;
                return Ok((Outcome::Integer(i64::from(here)), Vec::new()));
            }
            let mut out = Change::open(view, from, Kind::Set, Some(source));
            if !out.remove(view, member)? {
                return Ok((Outcome::Integer(0), Vec::new()));
            }
            let mut into = Change::open(view, to, Kind::Set, dest);
            into.put(view, member, Bytes::new())?;
            let mut effects = out.finish(view);
            effects.extend(into.finish(view));
            Ok((Outcome::Integer(1), effects))
        }
        SetWrite::Store { op, dest, keys } => {
            let Ok(sets) = find_all(view, keys)? else {
                return Ok(WrongType.into());
            };
            let result = compute(view, *op, &sets, 0)?;
            let n = i64::try_from(result.len()).unwrap_or(i64::MAX);
            let effects = store(view, dest, result)?;
            Ok((Outcome::Integer(n), effects))
        }
    }
}

/// The effects that make `dest` a new set of `members` (or delete it, for
/// none), whatever it held before.
fn store<V: ReadView>(
    view: &V,
    dest: &Bytes,
    members: Vec<Bytes>,
) -> Result<Vec<Effect>, V::Error> {
    if members.is_empty() {
        let existed = view.contains(dest)?;
        return Ok(if existed {
            vec![Effect::delete(dest)]
        } else {
            Vec::new()
        });
    }
    let mut change = Change::fresh(view, dest, Kind::Set);
    for m in members {
        change.put(view, &m, Bytes::new())?;
    }
    Ok(change.finish(view))
}

/// Evaluates a set read.
pub fn eval_read<V: ReadView>(op: &SetRead, view: &V) -> Result<Outcome, V::Error> {
    let keys: Vec<Bytes> = op.keys().into_iter().cloned().collect();
    let Ok(sets) = find_all(view, &keys)? else {
        return Ok(WrongType.into());
    };
    let first = sets.first().copied().flatten();
    Ok(match op {
        SetRead::Card { .. } => {
            Outcome::Integer(first.map_or(0, |f| i64::try_from(f.header.len).unwrap_or(i64::MAX)))
        }
        SetRead::IsMember { members, multi, .. } => {
            let mut answers = Vec::with_capacity(members.len());
            for m in members {
                answers.push(Outcome::Integer(i64::from(has(view, first.as_ref(), m)?)));
            }
            match (multi, answers.pop()) {
                (false, Some(one)) => one,
                (_, last) => {
                    answers.extend(last);
                    Outcome::Array(answers)
                }
            }
        }
        SetRead::Members { .. } => Outcome::Set(bulks(members(view, first.as_ref())?)),
        SetRead::RandMember { count, .. } => {
            let all = collection::all_members(view, first.as_ref())?;
            collection::random_members(view, all, *count, false)
        }
        SetRead::Algebra { op, .. } => Outcome::Set(bulks(compute(view, *op, &sets, 0)?)),
        SetRead::InterCard { limit, .. } => {
            let n = compute(view, Algebra::Inter, &sets, *limit)?.len();
            Outcome::Integer(i64::try_from(n).unwrap_or(i64::MAX))
        }
        SetRead::Scan { scan, .. } => {
            let whole = first
                .as_ref()
                .is_some_and(|f| encoding(view, f).is_ok_and(|e| e == "intset"));
            collection::scan_members(view, first.as_ref(), scan, whole, false)?
        }
    })
}

/// Redis 7.0's default `set-max-intset-entries`.
const INTSET_ENTRIES: u64 = 512;

/// The encoding Redis 7.0 would report for this set: `intset` when every
/// member is a 64-bit integer in canonical form and there are at most 512,
/// else `hashtable` (judged from the contents: Redis never converts back).
pub fn encoding<V: ReadView>(view: &V, found: &Found) -> Result<&'static str, V::Error> {
    if found.header.len > INTSET_ENTRIES {
        return Ok("hashtable");
    }
    let mut ints = true;
    view.each_element(found.header.version, &[collection::TAG_MEMBER], |sub, _| {
        ints = parse_i64(&collection::member_name(sub)).is_ok();
        ints
    })?;
    Ok(if ints { "intset" } else { "hashtable" })
}

#[cfg(test)]
mod tests {
    use crate::command::op::Outcome;
    use crate::command::op::testing::{MapView, b, run};

    /// Replicas evaluate SPOP with the same stamp and pop the same members;
    /// another stamp draws differently.
    #[test]
    fn spop_is_the_same_on_every_replica_with_the_same_stamp() {
        let mut a = MapView::default();
        run(&mut a, 1, "SADD s a b c d e f g h i j k l m n o p");
        let mut b_ = a.clone();
        let mut c = a.clone();
        let pa = run(&mut a, 42, "SPOP s 5");
        let pb = run(&mut b_, 42, "SPOP s 5");
        let pc = run(&mut c, 43, "SPOP s 5");
        assert_eq!(pa, pb);
        assert_ne!(pa, pc, "another stamp, another draw (almost surely)");
        assert_eq!(run(&mut a, 44, "SCARD s"), Outcome::Integer(11));
        assert_eq!(a.3, b_.3);
    }

    #[test]
    fn duplicates_count_once_and_smove_moves() {
        let mut v = MapView::default();
        assert_eq!(run(&mut v, 1, "SADD s a a b"), Outcome::Integer(2));
        assert_eq!(run(&mut v, 2, "SCARD s"), Outcome::Integer(2));
        assert_eq!(run(&mut v, 3, "SMOVE s t a"), Outcome::Integer(1));
        assert_eq!(run(&mut v, 4, "SMOVE s t b"), Outcome::Integer(1));
        assert_eq!(run(&mut v, 5, "EXISTS s"), Outcome::Integer(0));
        assert_eq!(
            run(&mut v, 5, "SMEMBERS t"),
            Outcome::Set(vec![
                Outcome::Value(Some(b("a"))),
                Outcome::Value(Some(b("b")))
            ])
        );
        assert_eq!(
            run(&mut v, 6, "SINTERSTORE d t missing"),
            Outcome::Integer(0)
        );
        assert_eq!(run(&mut v, 7, "SUNIONSTORE d t t"), Outcome::Integer(2));
        assert_eq!(
            run(&mut v, 8, "SINTERCARD 2 d t LIMIT 1"),
            Outcome::Integer(1)
        );
    }
}
