//! Hash commands: HSET, HMSET, HSETNX, HDEL, HINCRBY, HINCRBYFLOAT (writes)
//! and HGET, HMGET, HLEN, HSTRLEN, HEXISTS, HKEYS, HVALS, HGETALL,
//! HRANDFIELD, HSCAN (reads).
//!
//! A hash is a collection ([`super::collection`]): its header in the key's
//! record, one element record per field holding the field's value. HLEN,
//! HEXISTS, HGET and HSTRLEN are point reads; HKEYS, HVALS and HGETALL read
//! the fields in byte order (Redis lists them in its own order, which no
//! client may rely on); HRANDFIELD reads them all to draw from (O(N), as in
//! Kvrocks). Deleting the last field deletes the key, as in Redis.
//!
//! Parsing follows Redis 7.0's checks and error texts; evaluation never
//! does I/O. Random choices come from the view ([`ReadView::random`]), so a
//! HRANDFIELD inside MULTI draws the same on every replica.

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::collection::{self, Change, Found, find};
use super::op::{Evaluated, Kind, Outcome, ReadView, WrongType};
use super::{CommandError, long_double, parse_i64};

/// A hash command that writes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HashWrite {
    /// HSET / HMSET key field value \[field value ...\]: HSET replies how
    /// many fields are new, HMSET `+OK`.
    Set {
        /// The key.
        key: Bytes,
        /// The pairs, in command order (a repeated field takes its last
        /// value).
        pairs: Vec<(Bytes, Bytes)>,
        /// HMSET: reply `+OK`.
        ok_reply: bool,
    },
    /// HSETNX key field value: `:1` if set.
    SetNx {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
        /// The value.
        value: Bytes,
    },
    /// HDEL key field \[field ...\]: how many were removed.
    Del {
        /// The key.
        key: Bytes,
        /// The fields.
        fields: Vec<Bytes>,
    },
    /// HINCRBY key field increment: the new value.
    IncrBy {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
        /// The increment.
        delta: i64,
    },
    /// HINCRBYFLOAT key field increment: the new value as Redis prints it.
    IncrByFloat {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
        /// The increment's text, checked to parse.
        delta: Bytes,
    },
}

/// A hash command that only reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum HashRead {
    /// HGET key field.
    Get {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
    },
    /// HMGET key field \[field ...\].
    MGet {
        /// The key.
        key: Bytes,
        /// The fields.
        fields: Vec<Bytes>,
    },
    /// HLEN key.
    Len {
        /// The key.
        key: Bytes,
    },
    /// HSTRLEN key field.
    StrLen {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
    },
    /// HEXISTS key field.
    Exists {
        /// The key.
        key: Bytes,
        /// The field.
        field: Bytes,
    },
    /// HKEYS, HVALS, HGETALL key.
    All {
        /// The key.
        key: Bytes,
        /// Which parts of each pair.
        part: Part,
    },
    /// HRANDFIELD key \[count \[WITHVALUES\]\].
    RandField {
        /// The key.
        key: Bytes,
        /// The count, if given (negative: repeats allowed).
        count: Option<i64>,
        /// WITHVALUES.
        with_values: bool,
    },
    /// HSCAN key cursor \[MATCH pattern\] \[COUNT count\].
    Scan {
        /// The key.
        key: Bytes,
        /// The scan's options.
        scan: collection::ElementScan,
    },
}

/// What HKEYS, HVALS and HGETALL list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Part {
    /// HKEYS.
    Fields,
    /// HVALS.
    Values,
    /// HGETALL.
    Both,
}

impl HashWrite {
    /// The key written.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            HashWrite::Set { key, .. }
            | HashWrite::SetNx { key, .. }
            | HashWrite::Del { key, .. }
            | HashWrite::IncrBy { key, .. }
            | HashWrite::IncrByFloat { key, .. } => vec![key],
        }
    }
}

impl HashRead {
    /// Whether it reads every field (see [`super::op::ReadOp::is_heavy`]).
    pub fn is_heavy(&self) -> bool {
        matches!(
            self,
            HashRead::All { .. } | HashRead::RandField { .. } | HashRead::Scan { .. }
        )
    }

    /// The key read.
    pub fn keys(&self) -> Vec<&Bytes> {
        match self {
            HashRead::Get { key, .. }
            | HashRead::MGet { key, .. }
            | HashRead::Len { key }
            | HashRead::StrLen { key, .. }
            | HashRead::Exists { key, .. }
            | HashRead::All { key, .. }
            | HashRead::RandField { key, .. }
            | HashRead::Scan { key, .. } => vec![key],
        }
    }
}

/// Redis's error for a field whose value is not an integer (HINCRBY).
const NOT_INTEGER: &str = "ERR hash value is not an integer";
/// Redis's error for a field whose value is not a float (HINCRBYFLOAT).
const NOT_FLOAT: &str = "ERR hash value is not a float";
/// Redis's error for an increment that is not a float.
const BAD_INCREMENT: &str = "ERR value is not a valid float";
/// Redis's error for a result outside 64 bits.
const OVERFLOW: &str = "ERR increment or decrement would overflow";
/// Redis's error for an infinite or NaN result.
const NAN_OR_INFINITY: &str = "ERR increment would produce NaN or Infinity";

fn arg(args: &[Bytes], i: usize) -> Bytes {
    args.get(i).cloned().unwrap_or_default()
}

/// `HSET key field value \[field value ...\]`, and HMSET (`ok_reply`). The
/// caller checked the arity against the table (at least 4); an odd number
/// of field/value arguments is Redis's arity error too.
pub fn parse_hset(name: &str, args: &[Bytes], ok_reply: bool) -> Result<HashWrite, CommandError> {
    let rest = args.get(2..).unwrap_or_default();
    if rest.is_empty() || rest.len() % 2 != 0 {
        return Err(CommandError::Arity(name.to_string()));
    }
    Ok(HashWrite::Set {
        key: arg(args, 1),
        pairs: rest
            .chunks(2)
            .map(|p| (p[0].clone(), p[1].clone()))
            .collect(),
        ok_reply,
    })
}

/// `HSETNX key field value`.
pub fn parse_hsetnx(args: &[Bytes]) -> Result<HashWrite, CommandError> {
    Ok(HashWrite::SetNx {
        key: arg(args, 1),
        field: arg(args, 2),
        value: arg(args, 3),
    })
}

/// `HDEL key field \[field ...\]`.
pub fn parse_hdel(args: &[Bytes]) -> Result<HashWrite, CommandError> {
    Ok(HashWrite::Del {
        key: arg(args, 1),
        fields: args.iter().skip(2).cloned().collect(),
    })
}

/// `HINCRBY key field increment`.
pub fn parse_hincrby(args: &[Bytes]) -> Result<HashWrite, CommandError> {
    Ok(HashWrite::IncrBy {
        key: arg(args, 1),
        field: arg(args, 2),
        delta: parse_i64(&arg(args, 3))?,
    })
}

/// `HINCRBYFLOAT key field increment`.
pub fn parse_hincrbyfloat(args: &[Bytes]) -> Result<HashWrite, CommandError> {
    let delta = arg(args, 3);
    match long_double::parse(&delta) {
        None => return Err(CommandError::Other(BAD_INCREMENT.into())),
        // Redis refuses an infinite increment before it looks at the hash.
        Some(long_double::LongDouble::Infinite { .. }) => {
            return Err(CommandError::Other("ERR value is NaN or Infinity".into()));
        }
        Some(_) => {}
    }
    Ok(HashWrite::IncrByFloat {
        key: arg(args, 1),
        field: arg(args, 2),
        delta,
    })
}

/// The hash reads: HGET, HMGET, HLEN, HSTRLEN, HEXISTS, HKEYS, HVALS,
/// HGETALL, HRANDFIELD, HSCAN (`name` lowercased, arity checked).
pub fn parse_read(name: &str, args: &[Bytes]) -> Result<HashRead, CommandError> {
    let key = arg(args, 1);
    Ok(match name {
        "hget" => HashRead::Get {
            key,
            field: arg(args, 2),
        },
        "hmget" => HashRead::MGet {
            key,
            fields: args.iter().skip(2).cloned().collect(),
        },
        "hlen" => HashRead::Len { key },
        "hstrlen" => HashRead::StrLen {
            key,
            field: arg(args, 2),
        },
        "hexists" => HashRead::Exists {
            key,
            field: arg(args, 2),
        },
        "hkeys" => HashRead::All {
            key,
            part: Part::Fields,
        },
        "hvals" => HashRead::All {
            key,
            part: Part::Values,
        },
        "hgetall" => HashRead::All {
            key,
            part: Part::Both,
        },
        "hrandfield" => {
            let (count, with_values) = collection::parse_rand_count(args, true)?;
            HashRead::RandField {
                key,
                count,
                with_values,
            }
        }
        _ => HashRead::Scan {
            key,
            scan: collection::parse_element_scan(args)?,
        },
    })
}

/// Evaluates a hash write.
pub fn eval_write<V: ReadView>(op: &HashWrite, view: &V) -> Result<Evaluated, V::Error> {
    let key = op.keys()[0];
    let Ok(found) = find(view, key, Kind::Hash)? else {
        return Ok(WrongType.into());
    };
    let mut change = Change::open(view, key, Kind::Hash, found);
    let outcome = match op {
        HashWrite::Set {
            pairs, ok_reply, ..
        } => {
            let mut added = 0;
            for (field, value) in pairs {
                if change.put(view, field, value.clone())? {
                    added += 1;
                }
            }
            if *ok_reply {
                Outcome::Ok
            } else {
                Outcome::Integer(added)
            }
        }
        HashWrite::SetNx { field, value, .. } => {
            if change.get(view, field)?.is_some() {
                return Ok((Outcome::Integer(0), Vec::new()));
            }
            change.put(view, field, value.clone())?;
            Outcome::Integer(1)
        }
        HashWrite::Del { fields, .. } => {
            let mut removed = 0;
            for field in fields {
                if change.remove(view, field)? {
                    removed += 1;
                }
            }
            if removed == 0 {
                return Ok((Outcome::Integer(0), Vec::new()));
            }
            Outcome::Integer(removed)
        }
        HashWrite::IncrBy { field, delta, .. } => {
            let current = match change.get(view, field)? {
                None => 0,
                Some(v) => match parse_i64(&v) {
                    Ok(n) => n,
                    Err(_) => return Ok(error(NOT_INTEGER)),
                },
            };
            let Some(new) = current.checked_add(*delta) else {
                return Ok(error(OVERFLOW));
            };
            change.put(view, field, Bytes::from(new.to_string()))?;
            Outcome::Integer(new)
        }
        HashWrite::IncrByFloat { field, delta, .. } => {
            let current = match change.get(view, field)? {
                None => long_double::parse(b"0"),
                Some(v) => long_double::parse(&v),
            };
            let Some(current) = current else {
                return Ok(error(NOT_FLOAT));
            };
            let Some(delta) = long_double::parse(delta) else {
                return Ok(error(BAD_INCREMENT));
            };
            let Some(sum) = long_double::add(current, delta) else {
                return Ok(error(NAN_OR_INFINITY));
            };
            let text = Bytes::from(long_double::format_human(sum));
            change.put(view, field, text.clone())?;
            Outcome::Value(Some(text))
        }
    };
    Ok((outcome, change.finish(view)))
}

fn error(text: &str) -> Evaluated {
    (Outcome::Error(text.to_string()), Vec::new())
}

/// Evaluates a hash read.
pub fn eval_read<V: ReadView>(op: &HashRead, view: &V) -> Result<Outcome, V::Error> {
    let key = op.keys()[0];
    let Ok(found) = find(view, key, Kind::Hash)? else {
        return Ok(WrongType.into());
    };
    let field_value = |field: &[u8]| -> Result<Option<Bytes>, V::Error> {
        match &found {
            None => Ok(None),
            Some(f) => view.element(f.header.version, &collection::member_sub(field)),
        }
    };
    Ok(match op {
        HashRead::Get { field, .. } => Outcome::Value(field_value(field)?),
        HashRead::MGet { fields, .. } => Outcome::Array(
            fields
                .iter()
                .map(|f| field_value(f).map(Outcome::Value))
                .collect::<Result<_, _>>()?,
        ),
        HashRead::Len { .. } => Outcome::Integer(len(found.as_ref())),
        HashRead::StrLen { field, .. } => {
            Outcome::Integer(field_value(field)?.map_or(0, |v| v.len() as i64))
        }
        HashRead::Exists { field, .. } => {
            Outcome::Integer(i64::from(field_value(field)?.is_some()))
        }
        HashRead::All { part, .. } => {
            let pairs = collection::all_members(view, found.as_ref())?;
            let bulk = |b: Bytes| Outcome::Value(Some(b));
            match part {
                Part::Fields => Outcome::Array(pairs.into_iter().map(|(f, _)| bulk(f)).collect()),
                Part::Values => Outcome::Array(pairs.into_iter().map(|(_, v)| bulk(v)).collect()),
                Part::Both => {
                    Outcome::Map(pairs.into_iter().map(|(f, v)| (bulk(f), bulk(v))).collect())
                }
            }
        }
        HashRead::RandField {
            count, with_values, ..
        } => {
            let pairs = collection::all_members(view, found.as_ref())?;
            collection::random_members(view, pairs, *count, *with_values)
        }
        HashRead::Scan { scan, .. } => {
            let small = found
                .as_ref()
                .is_some_and(|f| is_listpack(view, f).unwrap_or(false));
            collection::scan_members(view, found.as_ref(), scan, small, true)?
        }
    })
}

/// A found hash's element count as a reply integer (0 if missing).
fn len(found: Option<&Found>) -> i64 {
    found.map_or(0, |f| i64::try_from(f.header.len).unwrap_or(i64::MAX))
}

/// Redis 7.0's defaults: `hash-max-listpack-entries 128`,
/// `hash-max-listpack-value 64`.
const LISTPACK_ENTRIES: u64 = 128;
const LISTPACK_VALUE: usize = 64;

/// Whether Redis would keep this hash as a listpack (its encoding for small
/// hashes): few fields, all fields and values short. Judged from the
/// contents (Redis never converts back once a hash grew; we do).
pub fn is_listpack<V: ReadView>(view: &V, found: &Found) -> Result<bool, V::Error> {
    if found.header.len > LISTPACK_ENTRIES {
        return Ok(false);
    }
    let mut small = true;
    view.each_element(
        found.header.version,
        &[collection::TAG_MEMBER],
        |sub, value| {
            small = sub.len() - 1 <= LISTPACK_VALUE && value.len() <= LISTPACK_VALUE;
            small
        },
    )?;
    Ok(small)
}

#[cfg(test)]
mod tests {
    use crate::command::cursor;
    use crate::command::op::Outcome;
    use crate::command::op::testing::{MapView, b, run};

    #[test]
    fn repeated_fields_count_once_and_the_last_field_takes_the_key() {
        let mut v = MapView::default();
        assert_eq!(run(&mut v, 1, "HSET h f 1 f 2 g 3"), Outcome::Integer(2));
        assert_eq!(run(&mut v, 2, "HLEN h"), Outcome::Integer(2));
        assert_eq!(run(&mut v, 2, "HGET h f"), Outcome::Value(Some(b("2"))));
        assert_eq!(run(&mut v, 3, "HDEL h f g f"), Outcome::Integer(2));
        assert_eq!(run(&mut v, 4, "EXISTS h"), Outcome::Integer(0));
        // Gone for good: a new hash under the name is a new incarnation
        // that sees none of the old one's fields.
        assert!(v.3.len() == 2, "the old elements stay until swept");
        assert_eq!(run(&mut v, 5, "HSET h x 1"), Outcome::Integer(1));
        assert_eq!(run(&mut v, 6, "HGET h f"), Outcome::Value(None));
        assert_eq!(run(&mut v, 6, "HLEN h"), Outcome::Integer(1));
    }

    #[test]
    fn hscan_pages_through_a_big_hash_once() {
        let mut v = MapView::default();
        let mut line = String::from("HSET h");
        for i in 0..300 {
            line.push_str(&format!(" field:{i} {i}"));
        }
        run(&mut v, 1, &line);
        let mut seen = Vec::new();
        let mut cursor = 0u64;
        loop {
            let Outcome::Scan { next, keys } = run(&mut v, 2, &format!("HSCAN h {cursor} COUNT 7"))
            else {
                panic!("not a scan")
            };
            assert!(keys.len() <= 14);
            seen.extend(keys.chunks(2).map(|p| p[0].clone()));
            match next {
                Some(bound) => cursor = cursor::encode(&bound),
                None => break,
            }
        }
        assert_eq!(seen.len(), 300);
        seen.dedup();
        assert_eq!(seen.len(), 300);
    }

    #[test]
    fn wrong_types_and_counters() {
        let mut v = MapView::of(&[("s", "x")]);
        assert!(
            matches!(run(&mut v, 1, "HSET s f v"), Outcome::Error(e) if e.starts_with("WRONGTYPE"))
        );
        assert!(
            matches!(run(&mut v, 1, "HGET s f"), Outcome::Error(e) if e.starts_with("WRONGTYPE"))
        );
        assert_eq!(run(&mut v, 1, "HINCRBY h n 5"), Outcome::Integer(5));
        assert_eq!(
            run(&mut v, 2, "HINCRBYFLOAT h n 0.5"),
            Outcome::Value(Some(b("5.5")))
        );
        assert!(
            matches!(run(&mut v, 3, "HINCRBY h n 1"), Outcome::Error(e) if e == "ERR hash value is not an integer")
        );
        assert!(matches!(run(&mut v, 3, "GET h"), Outcome::Error(e) if e.starts_with("WRONGTYPE")));
    }
}
