//! What every collection type shares: finding a key's collection (or
//! WRONGTYPE), reading its elements, and staging a change to it that ends
//! in exact element counts.
//!
//! A collection is a header in the key's record ([`Collection`]: kind,
//! incarnation, element count, last writer's stamp) and one element record
//! per field or member under the incarnation's prefix
//! ([`crate::storage::value`]). A change is staged in a [`Change`]: it reads
//! through its own pending writes (so `HSET h f 1 f 2` or `SADD s a a`
//! count each element once), and [`Change::finish`] writes the header with
//! the exact new count, or deletes the key when the last element went, as
//! Redis does. Every write to a collection rewrites its header with the
//! writer's stamp, so WATCH sees it.
//!
//! Nothing here knows a particular type's commands; the type modules
//! ([`super::hash`], [`super::set`], [`super::list`], [`super::zset`]) do.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};

use super::op::{Collection, Effect, Entry, Kind, Outcome, ReadView, Value, Version, WrongType};
use super::{CommandError, cursor, glob, option_name, parse_i64};

/// The first slot of a new list: the middle of the slot space, so that it
/// can grow 2^63 slots either way.
pub const NEW_HEAD: u64 = 1 << 63;

/// The tag of a field's or member's element record.
pub const TAG_MEMBER: u8 = 1;

/// The subkey of field or member `name`.
pub fn member_sub(name: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(name.len() + 1);
    out.put_u8(TAG_MEMBER);
    out.put_slice(name);
    out.freeze()
}

/// The field or member named by a subkey.
pub fn member_name(sub: &Bytes) -> Bytes {
    sub.slice(1.min(sub.len())..)
}

/// A live collection of one kind: its header and deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// The header.
    pub header: Collection,
    /// The key's deadline.
    pub expires_at: Option<u64>,
}

/// The collection of `kind` at `key`: `Ok(None)` if the key is missing,
/// `Err(WrongType)` if it holds something else.
pub fn find<V: ReadView>(
    view: &V,
    key: &[u8],
    kind: Kind,
) -> Result<Result<Option<Found>, WrongType>, V::Error> {
    Ok(match view.entry(key)? {
        None => Ok(None),
        Some(entry) => match entry.value {
            Value::Collection(header) if header.kind == kind => Ok(Some(Found {
                header,
                expires_at: entry.expires_at,
            })),
            _ => Err(WrongType),
        },
    })
}

/// Every member of a found collection with its value, in subkey order.
pub fn all_members<V: ReadView>(
    view: &V,
    found: Option<&Found>,
) -> Result<Vec<(Bytes, Bytes)>, V::Error> {
    let mut out = Vec::new();
    if let Some(found) = found {
        out.reserve(usize::try_from(found.header.len).unwrap_or(0).min(1 << 16));
        view.each_element(found.header.version, &[TAG_MEMBER], |sub, value| {
            out.push((member_name(sub), value.clone()));
            true
        })?;
    }
    Ok(out)
}

/// A change to one collection, staged: element writes and the count they
/// leave.
pub struct Change {
    key: Bytes,
    kind: Kind,
    version: Version,
    len: u64,
    head: u64,
    expires_at: Option<u64>,
    /// Subkey to its pending value (`None`: removed).
    pending: BTreeMap<Bytes, Option<Bytes>>,
}

impl Change {
    /// A change to `found` at `key`, or to a new, empty collection of
    /// `kind` (a fresh incarnation) when there is none.
    pub fn open<V: ReadView>(view: &V, key: &Bytes, kind: Kind, found: Option<Found>) -> Change {
        let (version, len, head, expires_at) = match found {
            Some(f) => (f.header.version, f.header.len, f.header.head, f.expires_at),
            None => (view.new_version(), 0, NEW_HEAD, None),
        };
        Change {
            key: key.clone(),
            kind,
            version,
            len,
            head: if kind == Kind::List { head } else { 0 },
            expires_at,
            pending: BTreeMap::new(),
        }
    }

    /// A new, empty collection of `kind` at `key`, whatever was there
    /// (the STORE commands and COPY overwrite): no deadline.
    pub fn fresh<V: ReadView>(view: &V, key: &Bytes, kind: Kind) -> Change {
        Change::open(view, key, kind, None)
    }

    /// A list's first slot.
    pub fn head(&self) -> u64 {
        self.head
    }

    /// Moves a list's first slot (a push or pop at the head; COPY keeps the
    /// source's).
    pub fn set_head(&mut self, head: u64) {
        if self.kind == Kind::List {
            self.head = head;
        }
    }

    /// Gives the collection this deadline (COPY keeps the source's).
    pub fn keep_deadline(&mut self, expires_at: Option<u64>) {
        self.expires_at = expires_at;
    }

    /// The value of member `name`, pending writes included.
    pub fn get<V: ReadView>(&self, view: &V, name: &[u8]) -> Result<Option<Bytes>, V::Error> {
        let sub = member_sub(name);
        match self.pending.get(&sub) {
            Some(pending) => Ok(pending.clone()),
            None if self.len == 0 && self.pending.is_empty() => Ok(None),
            None => view.element(self.version, &sub),
        }
    }

    /// Sets member `name` to `value`; returns whether it is new.
    pub fn put<V: ReadView>(
        &mut self,
        view: &V,
        name: &[u8],
        value: Bytes,
    ) -> Result<bool, V::Error> {
        let new = self.get(view, name)?.is_none();
        if new {
            self.len += 1;
        }
        self.pending.insert(member_sub(name), Some(value));
        Ok(new)
    }

    /// Sets member `name` to `value`, the caller having just read whether
    /// it is there (`present`, through [`get`](Self::get)): what
    /// [`put`](Self::put) does without reading it again.
    pub fn put_read(&mut self, name: &[u8], value: Bytes, present: bool) {
        if !present {
            self.len += 1;
        }
        self.pending.insert(member_sub(name), Some(value));
    }

    /// Removes member `name`; returns whether it was there.
    pub fn remove<V: ReadView>(&mut self, view: &V, name: &[u8]) -> Result<bool, V::Error> {
        let present = self.get(view, name)?.is_some();
        if present {
            self.len -= 1;
            self.pending.insert(member_sub(name), None);
        }
        Ok(present)
    }

    /// Removes member `name`; returns its value if it was there (one read,
    /// where [`get`](Self::get) then [`remove`](Self::remove) make two).
    pub fn take<V: ReadView>(&mut self, view: &V, name: &[u8]) -> Result<Option<Bytes>, V::Error> {
        let value = self.get(view, name)?;
        if value.is_some() {
            self.len -= 1;
            self.pending.insert(member_sub(name), None);
        }
        Ok(value)
    }

    /// Writes the element record `sub` (a full subkey, any tag) without
    /// counting it as a member: a sorted set's score index.
    pub fn put_raw(&mut self, sub: Bytes, value: Bytes) {
        self.pending.insert(sub, Some(value));
    }

    /// Deletes the element record `sub` (a full subkey) without counting.
    pub fn remove_raw(&mut self, sub: Bytes) {
        self.pending.insert(sub, None);
    }

    /// The number of members after the staged writes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether anything was staged.
    pub fn changed(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The effects: the element writes, then the header with the new count
    /// and the writer's stamp, or the key's deletion when it is empty (its
    /// remaining elements are then garbage, swept by each node).
    pub fn finish<V: ReadView>(self, view: &V) -> Vec<Effect> {
        let mut effects = Vec::with_capacity(self.pending.len() + 1);
        if self.len == 0 {
            effects.push(Effect::delete(&self.key));
            return effects;
        }
        for (sub, value) in self.pending {
            effects.push(Effect::Element {
                key: self.key.clone(),
                version: self.version,
                sub,
                value,
            });
        }
        let header = Collection {
            kind: self.kind,
            version: self.version,
            len: self.len,
            touched: view.stamp(),
            head: self.head,
        };
        effects.push(Effect::record(
            &self.key,
            Some(Entry {
                value: Value::Collection(header),
                expires_at: self.expires_at,
            }),
        ));
        effects
    }
}

/// A uniformly drawn index below `n` (`n > 0`) from the view's random
/// sequence.
pub fn random_below<V: ReadView>(view: &V, n: usize) -> usize {
    let n = n.max(1) as u64;
    usize::try_from(view.random() % n).unwrap_or(0)
}

/// `count` distinct indices below `n` (all of them if `count >= n`), in
/// random order: a partial Fisher–Yates shuffle.
pub fn distinct_indices<V: ReadView>(view: &V, n: usize, count: usize) -> Vec<usize> {
    let mut all: Vec<usize> = (0..n).collect();
    let take = count.min(n);
    for i in 0..take {
        let j = i + random_below(view, n - i);
        all.swap(i, j);
    }
    all.truncate(take);
    all
}

/// The options of HSCAN, SSCAN (and later ZSCAN): where to resume, how
/// many elements to examine, which to keep.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ElementScan {
    /// Resume at the first member `>=` this (empty: the start).
    pub from: Bytes,
    /// COUNT: how many members a step examines.
    pub count: u64,
    /// MATCH pattern, if any.
    pub pattern: Option<Bytes>,
    /// The error of a malformed option: Redis reads the options only once
    /// it has found the key, so a missing key ignores it and a key of
    /// another type answers WRONGTYPE first.
    pub error: Option<String>,
}

/// `XSCAN key cursor \[MATCH pattern\] \[COUNT count\]`, as SCAN parses its
/// options (TYPE is SCAN's alone: a syntax error here, as in Redis).
pub fn parse_element_scan(args: &[Bytes]) -> Result<ElementScan, CommandError> {
    let cursor = args
        .get(2)
        .and_then(|c| cursor::parse(c))
        .ok_or_else(|| CommandError::Other("ERR invalid cursor".into()))?;
    let mut scan = ElementScan {
        from: cursor::decode(cursor),
        count: 10,
        pattern: None,
        error: None,
    };
    if let Err(e) = scan_options(&mut scan, args.get(3..).unwrap_or_default()) {
        scan.error = Some(e.to_string());
    }
    Ok(scan)
}

/// MATCH and COUNT, in any order, the last of each winning.
fn scan_options(scan: &mut ElementScan, options: &[Bytes]) -> Result<(), CommandError> {
    for pair in options.chunks(2) {
        let [opt, value] = pair else {
            return Err(CommandError::Syntax);
        };
        match option_name(opt).as_str() {
            "count" => {
                scan.count = u64::try_from(parse_i64(value)?)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or(CommandError::Syntax)?;
            }
            "match" => scan.pattern = (&value[..] != b"*").then(|| value.clone()),
            _ => return Err(CommandError::Syntax),
        }
    }
    Ok(())
}

/// One scan step over a collection's members: all of them at once when
/// Redis would hold the collection in a compact encoding (`whole`: it
/// answers those in one step, cursor 0), else up to `count` members from
/// the bound. `with_values` lists each member's value after it (HSCAN).
pub fn scan_members<V: ReadView>(
    view: &V,
    found: Option<&Found>,
    scan: &ElementScan,
    whole: bool,
    with_values: bool,
) -> Result<Outcome, V::Error> {
    let Some(found) = found else {
        return Ok(Outcome::Scan {
            next: None,
            keys: Vec::new(),
        });
    };
    if let Some(error) = &scan.error {
        return Ok(Outcome::Error(error.clone()));
    }
    let version = found.header.version;
    // A compact collection is answered whole, whatever the cursor says.
    let from = if whole {
        Bytes::new()
    } else {
        scan.from.clone()
    };
    let limit = if whole {
        usize::MAX
    } else {
        usize::try_from(scan.count).unwrap_or(usize::MAX)
    };
    let mut items = Vec::new();
    let mut examined = 0usize;
    let mut last: Option<Bytes> = None;
    let mut next = None;
    view.each_element_from(version, &[TAG_MEMBER], &member_sub(&from), |sub, value| {
        if !sub.starts_with(&[TAG_MEMBER]) {
            return false;
        }
        let name = member_name(sub);
        if examined == limit {
            if let Some(last) = &last {
                next = Some(super::keyspace::bound_between(last, &name));
            }
            return false;
        }
        examined += 1;
        if scan
            .pattern
            .as_ref()
            .is_none_or(|p| glob::matches(p, &name))
        {
            items.push(name.clone());
            if with_values {
                items.push(value.clone());
            }
        }
        last = Some(name);
        true
    })?;
    Ok(Outcome::Scan { next, keys: items })
}

/// `\[count \[WITHVALUES\]\]` of HRANDFIELD (`with_values_allowed`) and
/// `\[count\]` of SRANDMEMBER, checked in Redis's order: the count's range
/// first, then the rest of the syntax.
pub fn parse_rand_count(
    args: &[Bytes],
    with_values_allowed: bool,
) -> Result<(Option<i64>, bool), CommandError> {
    parse_rand_count_named(
        args,
        if with_values_allowed {
            "withvalues"
        } else {
            ""
        },
    )
}

/// As [`parse_rand_count`], the values' option named `keyword` (ZRANDMEMBER's
/// WITHSCORES; empty: none allowed).
pub fn parse_rand_count_named(
    args: &[Bytes],
    keyword: &str,
) -> Result<(Option<i64>, bool), CommandError> {
    let with_values_allowed = !keyword.is_empty();
    let Some(count) = args.get(2) else {
        return Ok((None, false));
    };
    let count = parse_i64(count)?;
    if count == i64::MIN {
        return Err(CommandError::Other(format!(
            "ERR value is out of range, value must between {} and {}",
            -i64::MAX,
            i64::MAX
        )));
    }
    let with_values = match args.get(3..).unwrap_or_default() {
        [] => false,
        [w] if with_values_allowed && option_name(w) == keyword => true,
        _ => return Err(CommandError::Syntax),
    };
    if with_values && !(-(i64::MAX / 2)..=i64::MAX / 2).contains(&count) {
        return Err(CommandError::Other("ERR value is out of range".into()));
    }
    Ok((Some(count), with_values))
}

/// HRANDFIELD's and SRANDMEMBER's draw from `members` (member, value):
/// without a count one member or nil; with a positive count that many
/// distinct ones (all if fewer); with a negative one that many draws with
/// repeats. `with_values` pairs each member with its value.
pub fn random_members<V: ReadView>(
    view: &V,
    members: Vec<(Bytes, Bytes)>,
    count: Option<i64>,
    with_values: bool,
) -> Outcome {
    let bulk = |b: &Bytes| Outcome::Value(Some(b.clone()));
    let Some(count) = count else {
        if members.is_empty() {
            return Outcome::Value(None);
        }
        return bulk(&members[random_below(view, members.len())].0);
    };
    let picks: Vec<usize> = if count >= 0 {
        let n = usize::try_from(count).unwrap_or(usize::MAX);
        if n >= members.len() {
            (0..members.len()).collect()
        } else {
            distinct_indices(view, members.len(), n)
        }
    } else if members.is_empty() {
        Vec::new()
    } else {
        let n = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        (0..n).map(|_| random_below(view, members.len())).collect()
    };
    if with_values {
        Outcome::Pairs(
            picks
                .into_iter()
                .map(|i| (bulk(&members[i].0), bulk(&members[i].1)))
                .collect(),
        )
    } else {
        Outcome::Array(picks.into_iter().map(|i| bulk(&members[i].0)).collect())
    }
}
