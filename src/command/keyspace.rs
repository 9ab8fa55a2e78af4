//! Keyspace commands: DEL, UNLINK, EXISTS, TYPE, RENAME, RENAMENX, DBSIZE,
//! KEYS, SCAN, FLUSHDB and FLUSHALL.
//!
//! There is one database and every value is a string, so TYPE answers
//! `string` or `none`, and UNLINK is DEL (there is no lazy freeing to do).
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

use super::op::{Effect, Evaluated, Outcome, ReadOp, ReadView, WriteOp, successor};
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

/// TYPE: every value is a string.
pub fn type_of<V: ReadView>(view: &V, key: &Bytes) -> Result<Outcome, V::Error> {
    let name = if view.contains(key)? {
        "string"
    } else {
        "none"
    };
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
        vec![
            Effect::delete(from),
            Effect::put_expiring(to, entry.value, entry.expires_at),
        ],
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
    // Every value is a string; any other TYPE filters out everything.
    let type_ok = type_name.is_none_or(|t| t.eq_ignore_ascii_case(b"string"));
    let mut keys = Vec::new();
    let mut last: Option<&Bytes> = None;
    for key in page.iter().take(count) {
        if !key.starts_with(prefix) {
            return Ok(Outcome::Scan { next: None, keys });
        }
        if type_ok && pattern.is_none_or(|p| glob::matches(p, key)) {
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::command::op::eval_read;
    use crate::command::op::testing::{MapView, args, b, parse_err, write};
    use crate::config::Dialect;

    fn read(view: &MapView, command: &str) -> Outcome {
        match crate::command::parse(&args(command), Dialect::Redis).unwrap() {
            crate::command::Command::Read(op) => eval_read(&op, view).unwrap(),
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
            let Outcome::Scan { next, keys } = eval_read(&op, view).unwrap() else {
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
            let Outcome::Scan { next, keys } = eval_read(&op, &view).unwrap() else {
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
        } = eval_read(&op, &view).unwrap()
        else {
            panic!()
        };
        assert_eq!(next, b("longprefix:01"));
        let cursor = cursor::encode(&next);
        // As if the table slot were lost: the hint "lon" is the bound.
        let lost = cursor ^ (1 << 1);
        let op = parse_scan(&args(&format!("scan {lost} count 10"))).unwrap();
        let Outcome::Scan { keys, .. } = eval_read(&op, &view).unwrap() else {
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
