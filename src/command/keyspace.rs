//! Keyspace commands: DEL, UNLINK, EXISTS, TYPE, RENAME, RENAMENX, DBSIZE,
//! KEYS, SCAN, FLUSHDB and FLUSHALL.
//!
//! There is one database. UNLINK is DEL: deleting a collection of any
//! size writes only its record (its elements are swept later, see
//! [`crate::storage::value`]), so there is nothing to free lazily.
//! Also COPY, RANDOMKEY, TOUCH and OBJECT.
//!
//! # Iteration
//!
//! KEYS and SCAN walk the keys in bytewise order through
//! [`ReadView::keys_from`], so their replies list keys sorted, where Redis
//! lists them in hash order. A pattern's literal prefix (`user:` in
//! `user:*`) is sought directly rather than filtered for. SCAN's cursor is
//! a position in that order ([`super::cursor`]); COUNT is how many keys a
//! step examines (default 10), before MATCH and TYPE filter them, so a step
//! may return fewer keys than COUNT, or none, before the end.
//!
//! # Whole-keyspace operations
//!
//! FLUSHDB and FLUSHALL (the same: there is one database) delete every key,
//! expired ones not yet removed included, and name none in advance: they [`lock everything`](WriteOp::locks_everything).
//! KEYS, SCAN and DBSIZE likewise [read everything](ReadOp::reads_everything).

use std::collections::HashSet;

use bytes::Bytes;

use serde::{Deserialize, Serialize};

use super::collection;
use super::op::{Effect, Evaluated, Kind, Outcome, ReadOp, ReadView, Value, WriteOp, successor};
use super::{CommandError, cursor, glob, option_name, parse_i64};
use crate::resp::reply::Reply;

/// How many keys KEYS and FLUSHDB read at a time.
const PAGE: usize = 1024;

/// SCAN's default COUNT.
const DEFAULT_COUNT: u64 = 10;

/// `DEL key [key ...]` and `UNLINK key [key ...]`: replies how many existed.
pub fn parse_del(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    Ok(WriteOp::Del {
        keys: args.iter().skip(1).cloned().collect(),
    })
}

/// `EXISTS key [key ...]`.
pub fn parse_exists(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    Ok(ReadOp::Exists {
        keys: args.iter().skip(1).cloned().collect(),
    })
}

/// `TYPE key`.
pub fn parse_type(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    Ok(ReadOp::Type { key: arg(args, 1) })
}

/// `RENAME key newkey`, or `RENAMENX key newkey` with `nx`.
pub fn parse_rename(args: &[Bytes], nx: bool) -> Result<WriteOp, CommandError> {
    Ok(WriteOp::Rename {
        from: arg(args, 1),
        to: arg(args, 2),
        nx,
    })
}

/// `KEYS pattern`.
pub fn parse_keys(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    Ok(ReadOp::Keys {
        pattern: arg(args, 1),
    })
}

/// `SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]`, options in any
/// order, the last of each kind winning. COUNT must be a positive integer.
pub fn parse_scan(args: &[Bytes]) -> Result<ReadOp, CommandError> {
    let cursor = cursor::parse(&arg(args, 1))
        .ok_or_else(|| CommandError::Other("ERR invalid cursor".into()))?;
    let mut count = DEFAULT_COUNT;
    let mut pattern = None;
    let mut type_name = None;
    let mut i = 2;
    while let Some(opt) = args.get(i) {
        let Some(value) = args.get(i + 1) else {
            return Err(CommandError::Syntax);
        };
        match option_name(opt).as_str() {
            "count" => {
                count = u64::try_from(parse_i64(value)?)
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or(CommandError::Syntax)?;
            }
            // "*" is no filter at all, as in Redis.
            "match" => pattern = (&value[..] != b"*").then(|| value.clone()),
            "type" => type_name = Some(value.clone()),
            _ => return Err(CommandError::Syntax),
        }
        i += 2;
    }
    Ok(ReadOp::Scan {
        from: cursor::decode(cursor),
        count,
        pattern,
        type_name,
    })
}

/// `DBSIZE`.
pub fn parse_dbsize(_args: &[Bytes]) -> Result<ReadOp, CommandError> {
    Ok(ReadOp::DbSize)
}

/// `FLUSHDB [ASYNC|SYNC]` and `FLUSHALL [ASYNC|SYNC]`: both modes flush at
/// once.
pub fn parse_flush(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    match args {
        [_] => Ok(WriteOp::Flush),
        [_, mode] if matches!(option_name(mode).as_str(), "sync" | "async") => Ok(WriteOp::Flush),
        _ => Err(CommandError::Syntax),
    }
}

fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

/// DEL: deletes the keys that exist and counts them (a repeated key once).
pub fn del<V: ReadView>(view: &V, keys: &[Bytes]) -> Result<Evaluated, V::Error> {
    let mut seen = HashSet::with_capacity(keys.len());
    let mut effects = Vec::new();
    for key in keys {
        if seen.insert(key) && view.contains(key)? {
            effects.push(Effect::delete(key));
        }
    }
    let count = i64::try_from(effects.len()).unwrap_or(i64::MAX);
    Ok((Outcome::Integer(count), effects))
}

/// EXISTS: how many arguments name an existing key, repeats included.
pub fn exists<V: ReadView>(view: &V, keys: &[Bytes]) -> Result<Outcome, V::Error> {
    let mut count = 0i64;
    for key in keys {
        if view.contains(key)? {
            count += 1;
        }
    }
    Ok(Outcome::Integer(count))
}

/// TYPE: the value's type, `none` for a missing key.
pub fn type_of<V: ReadView>(view: &V, key: &Bytes) -> Result<Outcome, V::Error> {
    let name = view.entry(key)?.map_or("none", |e| e.type_name());
    Ok(Outcome::Status(name.to_string()))
}

/// RENAME / RENAMENX. A missing source is an error even when both names
/// are the same; renaming a key to itself changes nothing. The new name
/// takes the old one's deadline, as in Redis.
pub fn rename<V: ReadView>(
    view: &V,
    from: &Bytes,
    to: &Bytes,
    nx: bool,
) -> Result<Evaluated, V::Error> {
    let Some(entry) = view.entry(from)? else {
        return Ok((Outcome::Error("ERR no such key".into()), Vec::new()));
    };
    let done = if nx { Outcome::Integer(1) } else { Outcome::Ok };
    if from == to {
        let same = if nx { Outcome::Integer(0) } else { Outcome::Ok };
        return Ok((same, Vec::new()));
    }
    if nx && view.contains(to)? {
        return Ok((Outcome::Integer(0), Vec::new()));
    }
    Ok((
        done,
        // A collection's header moves; its elements stay where they are.
        vec![Effect::delete(from), Effect::record(to, Some(entry))],
    ))
}

/// FLUSHDB: a delete of every stored key, expired or not.
pub fn flush<V: ReadView>(view: &V) -> Result<Evaluated, V::Error> {
    let mut effects = Vec::new();
    let mut start = Bytes::new();
    loop {
        let page = view.stored_keys_from(&start, PAGE)?;
        let full = page.len() == PAGE;
        if let Some(last) = page.last() {
            start = successor(last);
        }
        effects.extend(page.iter().map(Effect::delete));
        if !full {
            return Ok((Outcome::Ok, effects));
        }
    }
}

/// KEYS: every key matching `pattern`, in key order.
pub fn keys<V: ReadView>(view: &V, pattern: &[u8]) -> Result<Outcome, V::Error> {
    // As in Redis, "*" is not matched at all (it would miss the empty key).
    let all = pattern == b"*";
    let prefix = glob::literal_prefix(pattern);
    let mut found = Vec::new();
    let mut start = Bytes::copy_from_slice(prefix);
    loop {
        let page = view.keys_from(&start, PAGE)?;
        for key in &page {
            if !key.starts_with(prefix) {
                return Ok(Outcome::Array(found));
            }
            if all || glob::matches(pattern, key) {
                found.push(Outcome::Value(Some(key.clone())));
            }
        }
        match page.last() {
            Some(last) if page.len() == PAGE => start = successor(last),
            _ => return Ok(Outcome::Array(found)),
        }
    }
}

/// One SCAN step from bound `from`: examines up to `count` keys, keeps
/// those matching `pattern` and `type_name`, and says where to resume.
pub fn scan<V: ReadView>(
    view: &V,
    from: &Bytes,
    count: u64,
    pattern: Option<&[u8]>,
    type_name: Option<&[u8]>,
) -> Result<Outcome, V::Error> {
    let prefix = pattern.map(glob::literal_prefix).unwrap_or_default();
    let start: &[u8] = if &from[..] < prefix { prefix } else { from };
    let count = usize::try_from(count).unwrap_or(usize::MAX).max(1);
    let page = view.keys_from(start, count.saturating_add(1))?;
    let mut keys = Vec::new();
    let mut last: Option<&Bytes> = None;
    for key in page.iter().take(count) {
        if !key.starts_with(prefix) {
            return Ok(Outcome::Scan { next: None, keys });
        }
        if pattern.is_none_or(|p| glob::matches(p, key)) && has_type(view, key, type_name)? {
            keys.push(key.clone());
        }
        last = Some(key);
    }
    let next = match (last, page.get(count)) {
        (Some(last), Some(next)) if next.starts_with(prefix) => Some(bound_between(last, next)),
        _ => None,
    };
    Ok(Outcome::Scan { next, keys })
}

/// Whether `key` holds a value of type `wanted` (any type when none is
/// asked for; an unknown type name matches nothing, as in Redis 7.0).
fn has_type<V: ReadView>(view: &V, key: &[u8], wanted: Option<&[u8]>) -> Result<bool, V::Error> {
    let Some(wanted) = wanted else {
        return Ok(true);
    };
    Ok(view
        .entry(key)?
        .is_some_and(|e| wanted.eq_ignore_ascii_case(e.type_name().as_bytes())))
}

/// The shortest byte string `b` with `last < b <= next` (for `last <
/// next`): `next` cut just past where the two first differ. Short bounds
/// make short cursors.
pub fn bound_between(last: &[u8], next: &Bytes) -> Bytes {
    let common = last
        .iter()
        .zip(next.iter())
        .take_while(|(a, b)| a == b)
        .count();
    next.slice(..(common + 1).min(next.len()))
}

/// SCAN's reply: the cursor for `next` (0 at the end) as a bulk string, and
/// the keys.
pub fn scan_reply(next: Option<Bytes>, keys: Vec<Bytes>) -> Reply {
    let cursor = next.as_ref().map_or(0, cursor::encode);
    Reply::Array(vec![
        Reply::Bulk(Bytes::from(cursor.to_string())),
        Reply::Array(keys.into_iter().map(Reply::Bulk).collect()),
    ])
}

/// OBJECT's subcommands that read a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ObjectField {
    /// OBJECT ENCODING: the encoding Redis 7.0 would use for the value.
    Encoding,
    /// OBJECT REFCOUNT.
    RefCount,
    /// OBJECT IDLETIME: access times are not tracked, so always 0.
    IdleTime,
    /// OBJECT FREQ: refused, as Redis refuses it without an LFU policy.
    Freq,
}

/// OBJECT HELP's lines, as Redis 7.0 prints them.
const OBJECT_HELP: &[&str] = &[
    "OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "ENCODING <key>",
    "    Return the kind of internal representation used in order to store the value",
    "    associated with a <key>.",
    "FREQ <key>",
    "    Return the access frequency index of the <key>. The returned integer is",
    "    proportional to the logarithm of the recent access frequency of the key.",
    "IDLETIME <key>",
    "    Return the idle time of the <key>, that is the approximated number of",
    "    seconds elapsed since the last access to the key.",
    "REFCOUNT <key>",
    "    Return the number of references of the value associated with the specified",
    "    <key>.",
    "HELP",
    "    Prints this help.",
];

/// Redis's error for OBJECT FREQ without an LFU eviction policy.
const NO_LFU: &str = "ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.";

/// `OBJECT subcommand \[key\]`: `None` for HELP (answered by the session,
/// [`object_help`]), the rest read the key.
pub fn parse_object(args: &[Bytes]) -> Result<Option<ReadOp>, CommandError> {
    let sub = option_name(&arg(args, 1));
    let expected = match sub.as_str() {
        "help" => 2,
        "encoding" | "refcount" | "idletime" | "freq" => 3,
        _ => {
            return Err(CommandError::Other(format!(
                "ERR unknown subcommand '{}'. Try OBJECT HELP.",
                String::from_utf8_lossy(&arg(args, 1))
            )));
        }
    };
    if args.len() != expected {
        return Err(CommandError::Arity(format!("object|{sub}")));
    }
    let field = match (sub.as_str(), args.len()) {
        ("help", 2) => return Ok(None),
        ("encoding", 3) => ObjectField::Encoding,
        ("refcount", 3) => ObjectField::RefCount,
        ("idletime", 3) => ObjectField::IdleTime,
        _ => ObjectField::Freq,
    };
    Ok(Some(ReadOp::Object {
        sub: field,
        key: arg(args, 2),
    }))
}

/// OBJECT HELP's reply.
pub fn object_help() -> Reply {
    Reply::Array(
        OBJECT_HELP
            .iter()
            .map(|l| Reply::Simple((*l).into()))
            .collect(),
    )
}

/// OBJECT ENCODING / REFCOUNT / IDLETIME / FREQ of `key` (nil if missing).
pub fn object<V: ReadView>(view: &V, field: ObjectField, key: &Bytes) -> Result<Outcome, V::Error> {
    let Some(entry) = view.entry(key)? else {
        return Ok(Outcome::Value(None));
    };
    Ok(match field {
        ObjectField::Encoding => {
            let name = match &entry.value {
                Value::String(v) => string_encoding(v),
                Value::Collection(c) => {
                    let found = collection::Found {
                        header: *c,
                        expires_at: entry.expires_at,
                    };
                    match c.kind {
                        Kind::Hash if super::hash::is_listpack(view, &found)? => "listpack",
                        Kind::Hash => "hashtable",
                        Kind::Set => super::set::encoding(view, &found)?,
                        // Redis 7.0 keeps every list as a quicklist.
                        Kind::List => "quicklist",
                        Kind::ZSet => super::zset::encoding(view, &found)?,
                    }
                }
            };
            Outcome::Value(Some(Bytes::from_static(name.as_bytes())))
        }
        ObjectField::RefCount => match &entry.value {
            // Redis shares the objects of small integers.
            Value::String(v) if parse_i64(v).is_ok_and(|n| (0..10_000).contains(&n)) => {
                Outcome::Integer(i64::from(i32::MAX))
            }
            _ => Outcome::Integer(1),
        },
        ObjectField::IdleTime => Outcome::Integer(0),
        ObjectField::Freq => Outcome::Error(NO_LFU.into()),
    })
}

/// The encoding Redis 7.0 gives a string of these bytes when it is set:
/// `int` for a 64-bit integer in canonical form (up to 20 characters),
/// `embstr` up to 44 bytes, `raw` beyond. (Redis also turns a string that
/// APPEND or SETRANGE touched into `raw`; we judge by the bytes.)
fn string_encoding(value: &[u8]) -> &'static str {
    if value.len() <= 20 && parse_i64(value).is_ok() {
        "int"
    } else if value.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}

/// `COPY source destination \[DB destination-db\] \[REPLACE\]`. There is one
/// database: `DB 0` is accepted, any other refused as Redis refuses a DB
/// out of range.
pub fn parse_copy(args: &[Bytes]) -> Result<WriteOp, CommandError> {
    let mut replace = false;
    let mut i = 3;
    while let Some(opt) = args.get(i) {
        match option_name(opt).as_str() {
            "replace" => replace = true,
            "db" if args.get(i + 1).is_some() => {
                let db = parse_i64(&arg(args, i + 1))?;
                if db != 0 {
                    return Err(CommandError::Other("ERR DB index is out of range".into()));
                }
                i += 1;
            }
            _ => return Err(CommandError::Syntax),
        }
        i += 1;
    }
    Ok(WriteOp::Copy {
        from: arg(args, 1),
        to: arg(args, 2),
        replace,
    })
}

/// COPY: `:1` and the destination a copy of the source (a collection gets
/// a new incarnation with a copy of every element: O(N), as in Redis), `:0`
/// if the source is missing or the destination exists without REPLACE.
pub fn copy<V: ReadView>(
    view: &V,
    from: &Bytes,
    to: &Bytes,
    replace: bool,
) -> Result<Evaluated, V::Error> {
    let Some(entry) = view.entry(from)? else {
        return Ok((Outcome::Integer(0), Vec::new()));
    };
    if from == to {
        return Ok((
            Outcome::Error("ERR source and destination objects are the same".into()),
            Vec::new(),
        ));
    }
    if !replace && view.contains(to)? {
        return Ok((Outcome::Integer(0), Vec::new()));
    }
    let effects = match &entry.value {
        Value::String(_) => vec![Effect::record(to, Some(entry))],
        Value::Collection(c) => {
            let found = collection::Found {
                header: *c,
                expires_at: entry.expires_at,
            };
            let mut change = collection::Change::fresh(view, to, c.kind);
            let members = collection::all_members(view, Some(&found))?;
            if c.kind == Kind::ZSet {
                super::zset::copy_index(&mut change, &members);
            }
            for (member, value) in members {
                change.put(view, &member, value)?;
            }
            change.keep_deadline(entry.expires_at);
            change.set_head(c.head);
            change.finish(view)
        }
    };
    Ok((Outcome::Integer(1), effects))
}

/// RANDOMKEY: a live key drawn uniformly (O(N): the keys are counted
/// first), or nil.
pub fn random_key<V: ReadView>(view: &V) -> Result<Outcome, V::Error> {
    let total = view.count()?;
    if total == 0 {
        return Ok(Outcome::Value(None));
    }
    let mut skip = view.random() % total;
    let mut start = Bytes::new();
    loop {
        let page = view.keys_from(&start, PAGE)?;
        let Some(last) = page.last() else {
            return Ok(Outcome::Value(None));
        };
        match usize::try_from(skip).ok().and_then(|i| page.get(i)) {
            Some(key) => return Ok(Outcome::Value(Some(key.clone()))),
            None => {
                skip -= page.len() as u64;
                start = successor(last);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::command::op::eval_read;
    use crate::command::op::testing::{MapView, args, b, parse_err, write};
    use crate::config::Dialect;

    fn read(view: &MapView, command: &str) -> Outcome {
        match crate::command::parse(&args(command), Dialect::Redis).unwrap() {
            crate::command::Command::Read(op) => eval_read(&op, view, 0).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    fn key_list(outcome: Outcome) -> Vec<String> {
        match outcome {
            Outcome::Array(items) => items
                .into_iter()
                .map(|o| match o {
                    Outcome::Value(Some(v)) => String::from_utf8(v.to_vec()).unwrap(),
                    other => panic!("{other:?}"),
                })
                .collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn exists_type_del() {
        let mut view = MapView::of(&[("a", "1"), ("b", "2")]);
        assert_eq!(read(&view, "exists a a b c"), Outcome::Integer(3));
        assert_eq!(read(&view, "type a"), Outcome::Status("string".into()));
        assert_eq!(read(&view, "type z"), Outcome::Status("none".into()));
        let unlink = parse_del(&args("unlink a a z")).unwrap();
        assert_eq!(write(&mut view, unlink), Outcome::Integer(1));
        assert_eq!(read(&view, "dbsize"), Outcome::Integer(1));
    }

    #[test]
    fn rename_and_renamenx() {
        let mut view = MapView::of(&[("a", "1"), ("b", "2")]);
        let rename = |s: &str| parse_rename(&args(s), false).unwrap();
        let renamenx = |s: &str| parse_rename(&args(s), true).unwrap();
        assert_eq!(
            write(&mut view, rename("rename x y")),
            Outcome::Error("ERR no such key".into())
        );
        assert_eq!(
            write(&mut view, rename("rename x x")),
            Outcome::Error("ERR no such key".into())
        );
        assert_eq!(write(&mut view, rename("rename a a")), Outcome::Ok);
        assert_eq!(
            write(&mut view, renamenx("renamenx a a")),
            Outcome::Integer(0)
        );
        assert_eq!(
            write(&mut view, renamenx("renamenx a b")),
            Outcome::Integer(0)
        );
        assert_eq!(write(&mut view, rename("rename a b")), Outcome::Ok);
        assert_eq!(view.0.get(&b("b")), Some(&b("1")));
        assert!(!view.0.contains_key(&b("a")));
        assert_eq!(
            write(&mut view, renamenx("renamenx b c")),
            Outcome::Integer(1)
        );
        assert_eq!(view.0.keys().cloned().collect::<Vec<_>>(), vec![b("c")]);
    }

    #[test]
    fn flush_deletes_everything() {
        let mut view = MapView::default();
        for i in 0..3000 {
            view.0.insert(b(&format!("k{i}")), b("v"));
        }
        assert_eq!(
            write(&mut view, parse_flush(&args("flushdb")).unwrap()),
            Outcome::Ok
        );
        assert!(view.0.is_empty());
        assert!(parse_flush(&args("flushall ASYNC")).is_ok());
        assert_eq!(parse_err("flushdb lazy"), "ERR syntax error");
        assert_eq!(parse_err("flushall sync sync"), "ERR syntax error");
    }

    #[test]
    fn keys_by_pattern() {
        let mut view = MapView::default();
        for k in [
            "user:1",
            "user:2",
            "user:10",
            "session:1",
            "u",
            "hello",
            "hallo",
            "hxllo",
        ] {
            view.0.insert(b(k), b("v"));
        }
        assert_eq!(
            key_list(read(&view, "keys user:*")),
            ["user:1", "user:10", "user:2"]
        );
        assert_eq!(key_list(read(&view, "keys h[ae]llo")), ["hallo", "hello"]);
        assert_eq!(key_list(read(&view, "keys *1")), ["session:1", "user:1"]);
        assert_eq!(key_list(read(&view, "keys *")).len(), 8);
        view.0.insert(b(""), b("empty key"));
        assert_eq!(key_list(read(&view, "keys *")).len(), 9);
        assert_eq!(key_list(read(&view, "keys **")).len(), 8);
        view.0.remove(&b(""));
        assert_eq!(key_list(read(&view, "keys nothing*")).len(), 0);
        for i in 0..2500 {
            view.0.insert(b(&format!("many:{i:05}")), b("v"));
        }
        assert_eq!(key_list(read(&view, "keys many:*")).len(), 2500);
        assert_eq!(key_list(read(&view, "keys *:0000?")).len(), 10);
    }

    #[test]
    fn scan_parse_errors() {
        assert_eq!(parse_err("scan abc"), "ERR invalid cursor");
        assert_eq!(parse_err("scan 0 count 0"), "ERR syntax error");
        assert_eq!(parse_err("scan 0 count -1"), "ERR syntax error");
        assert_eq!(
            parse_err("scan 0 count x"),
            "ERR value is not an integer or out of range"
        );
        assert_eq!(parse_err("scan 0 match"), "ERR syntax error");
        assert_eq!(parse_err("scan 0 foo bar"), "ERR syntax error");
        assert!(parse_scan(&args("scan 0 MATCH a* COUNT 5 type string")).is_ok());
    }

    /// Runs a whole SCAN iteration through the real cursor encoding.
    fn full_scan(view: &MapView, options: &str) -> (Vec<String>, usize) {
        let mut cursor = 0u64;
        let mut seen = Vec::new();
        let mut steps = 0;
        loop {
            let op = parse_scan(&args(&format!("scan {cursor}{options}"))).unwrap();
            let Outcome::Scan { next, keys } = eval_read(&op, view, 0).unwrap() else {
                panic!("not a scan outcome");
            };
            seen.extend(keys.iter().map(|k| String::from_utf8(k.to_vec()).unwrap()));
            steps += 1;
            cursor = next.as_ref().map_or(0, cursor::encode);
            if cursor == 0 {
                return (seen, steps);
            }
            assert!(steps < 100_000, "no progress");
        }
    }

    #[test]
    fn scan_returns_every_key_once_when_nothing_changes() {
        let mut view = MapView::default();
        for i in 0..1000 {
            view.0
                .insert(b(&format!("session:{:016x}", i * 7919)), b("v"));
            view.0.insert(b(&format!("k{i}")), b("v"));
        }
        view.0.insert(b(""), b("empty key"));
        let (seen, steps) = full_scan(&view, "");
        assert_eq!(seen.len(), 2001);
        assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 2001);
        assert!((200..=202).contains(&steps), "{steps} steps");
        let (seen, _) = full_scan(&view, " COUNT 7 MATCH session:*");
        assert_eq!(seen.len(), 1000);
        let (seen, steps) = full_scan(&view, " COUNT 1000 MATCH k1*");
        assert_eq!(seen.len(), 111);
        assert_eq!(steps, 1);
        let (seen, _) = full_scan(&view, " TYPE hash");
        assert!(seen.is_empty());
        let (seen, _) = full_scan(&view, " TYPE STRING COUNT 500");
        assert_eq!(seen.len(), 2001);
    }

    #[test]
    fn scan_survives_concurrent_changes() {
        let mut view = MapView::default();
        for i in 0..500 {
            view.0.insert(b(&format!("stable:{i:04}")), b("v"));
            view.0.insert(b(&format!("churn:{i:04}")), b("v"));
        }
        let mut cursor = 0u64;
        let mut seen = BTreeSet::new();
        let mut step = 0;
        loop {
            let op = parse_scan(&args(&format!("scan {cursor} count 13"))).unwrap();
            let Outcome::Scan { next, keys } = eval_read(&op, &view, 0).unwrap() else {
                panic!()
            };
            seen.extend(keys);
            // Between steps: delete some keys, add others anywhere.
            step += 1;
            view.0.remove(&b(&format!("churn:{:04}", step * 7 % 500)));
            view.0.insert(b(&format!("a-new:{step}")), b("v"));
            view.0.insert(b(&format!("stable:{step:04}x")), b("v"));
            cursor = next.as_ref().map_or(0, cursor::encode);
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(
                seen.contains(&b(&format!("stable:{i:04}"))),
                "missed stable:{i:04}"
            );
        }
    }

    #[test]
    fn lost_long_cursor_resumes_earlier() {
        let mut view = MapView::default();
        for i in 0..100 {
            view.0.insert(b(&format!("longprefix:{i:03}")), b("v"));
        }
        let op = parse_scan(&args("scan 0 count 10")).unwrap();
        let Outcome::Scan {
            next: Some(next), ..
        } = eval_read(&op, &view, 0).unwrap()
        else {
            panic!()
        };
        assert_eq!(next, b("longprefix:01"));
        let cursor = cursor::encode(&next);
        // As if the table slot were lost: the hint "lon" is the bound.
        let lost = cursor ^ (1 << 1);
        let op = parse_scan(&args(&format!("scan {lost} count 10"))).unwrap();
        let Outcome::Scan { keys, .. } = eval_read(&op, &view, 0).unwrap() else {
            panic!()
        };
        assert_eq!(keys.first(), Some(&b("longprefix:000")));
    }

    #[test]
    fn bounds_are_short() {
        assert_eq!(bound_between(b"user:100", &b("user:101")), b("user:101"));
        assert_eq!(bound_between(b"abc", &b("abd")), b("abd"));
        assert_eq!(bound_between(b"ab", &b("abzz")), b("abz"));
        assert_eq!(bound_between(b"azzz", &b("b")), b("b"));
        assert_eq!(bound_between(b"", &b("x")), b("x"));
    }

    #[test]
    fn scan_reply_shape() {
        let reply = scan_reply(None, vec![b("a")]);
        assert_eq!(
            reply,
            Reply::Array(vec![
                Reply::Bulk(b("0")),
                Reply::Array(vec![Reply::Bulk(b("a"))])
            ])
        );
    }
}
