//! How user keys, their records and the elements of collections are laid
//! out in fjall, and the `expires` index the background expirer reads.
//!
//! # One record per user key (`data`)
//!
//! Every user key has exactly one record in the `data` keyspace, under the
//! key itself ([`data_key`] escapes it, so that the empty key, which fjall
//! cannot hold, is a key like any other). The record starts with a header
//! byte that says the type and whether a deadline follows:
//!
//! ```text
//! 0x00 value...                                      string, no deadline
//! 0x01 deadline(8) value...                          string with deadline
//! 0xK0 version(12) len(8) touched(8) [head(8)]        collection of kind K
//! 0xK1 deadline(8) version(12) len(8) touched(8) [..]  ... with deadline
//! ```
//!
//! Numbers are big-endian; a deadline is unix milliseconds. A string stays
//! one point lookup (GET reads nothing else), and `TYPE`, `EXISTS`, `HLEN`,
//! `SCARD` and every expiry check are one point read for every type.
//!
//! # Elements (`elements`)
//!
//! A collection's fields or members are records of their own, under
//! `version(12) ++ subkey`, where the version names one *incarnation* of the
//! key ([`crate::command::op::Version`]: the stamp of the transaction that
//! created it, the same on every replica, and a sequence number within it).
//! The subkey's first byte is a tag that says what the record is (a hash
//! field, a set member, a list slot, a sorted set's member, score index
//! entry or index head: see [`crate::command::zset`]). Because
//! the prefix belongs to the incarnation and not to the key's name,
//! deleting, overwriting, expiring or flushing a collection of any size is a
//! write of its one `data` record, and RENAME moves only that record: a
//! new incarnation never sees the old one's elements.
//!
//! # Garbage (`garbage`)
//!
//! When a commit leaves an incarnation without a record pointing at it, the
//! replica notes its version in the `garbage` keyspace in the same batch
//! (see [`crate::participant::replica`]); a background sweep on each node
//! deletes that version's elements, a chunk at a time, then the note.
//! Only invisible records are ever swept: the sweep never reads a deadline
//! and never decides that a visible key is gone (expiry stays the
//! coordinator's decision). A version is never reused, so an incarnation
//! that is garbage can never come back.
//!
//! # The expiry index (`expires`)
//!
//! For every stored key with a deadline, an empty value under
//! `deadline(8) ++ key` (the user key, unescaped), so the keys whose
//! deadline has passed are one ordered range read from the start. It is
//! derived from `data` (a replica maintains it in the same batch as the
//! data it indexes) and is in no digest.
//!
//! This module only encodes and decodes; it never reads or writes fjall.

use bytes::{BufMut, Bytes, BytesMut};

use crate::command::op::{Collection, Entry, Kind, Value, Version};

use super::StorageError;

/// Header byte of a string without a deadline.
const PLAIN: u8 = 0;
/// The header bit that says a deadline follows.
const EXPIRING: u8 = 1;
/// Bytes of an encoded [`Version`].
pub const VERSION_LEN: usize = 12;

/// The header's type nibble of each kind (strings are 0).
fn kind_code(kind: Kind) -> u8 {
    match kind {
        Kind::Hash => 1,
        Kind::Set => 2,
        Kind::List => 3,
        Kind::ZSet => 4,
    }
}

fn kind_of(code: u8) -> Option<Kind> {
    match code {
        1 => Some(Kind::Hash),
        2 => Some(Kind::Set),
        3 => Some(Kind::List),
        4 => Some(Kind::ZSet),
        _ => None,
    }
}

/// Bytes of a collection's header after the deadline: version, length,
/// last writer's stamp, and a list's head slot.
fn header_len(kind: Kind) -> usize {
    VERSION_LEN + if kind == Kind::List { 24 } else { 16 }
}

/// The stored bytes of a user key's record.
pub fn encode_entry(entry: &Entry) -> Bytes {
    let (code, body_len) = match &entry.value {
        Value::String(v) => (0, v.len()),
        Value::Collection(c) => (kind_code(c.kind), header_len(c.kind)),
    };
    let mut out = BytesMut::with_capacity(body_len + 9);
    let flag = if entry.expires_at.is_some() {
        EXPIRING
    } else {
        PLAIN
    };
    out.put_u8(code << 4 | flag);
    if let Some(at) = entry.expires_at {
        out.put_u64(at);
    }
    match &entry.value {
        Value::String(v) => out.put_slice(v),
        Value::Collection(c) => {
            out.put_slice(&encode_version(c.version));
            out.put_u64(c.len);
            out.put_u64(c.touched);
            if c.kind == Kind::List {
                out.put_u64(c.head);
            }
        }
    }
    out.freeze()
}

/// The stored bytes of a string (the common case, without building an
/// [`Entry`]).
pub fn encode(value: &[u8], expires_at: Option<u64>) -> Bytes {
    encode_entry(&Entry {
        value: Value::String(Bytes::copy_from_slice(value)),
        expires_at,
    })
}

/// The deadline of stored bytes, reading only the header.
pub fn deadline(stored: &[u8]) -> Result<Option<u64>, StorageError> {
    let (&header, rest) = stored.split_first().ok_or_else(bad)?;
    if header & EXPIRING == 0 {
        return Ok(None);
    }
    let at = rest.get(..8).ok_or_else(bad)?;
    Ok(Some(u64::from_be_bytes(at.try_into().map_err(|_| bad())?)))
}

/// The collection version a stored record points at, if it is a collection.
pub fn version_of(stored: &[u8]) -> Result<Option<Version>, StorageError> {
    match decode(stored)?.value {
        Value::Collection(c) => Ok(Some(c.version)),
        Value::String(_) => Ok(None),
    }
}

/// The entry stored as `stored`.
pub fn decode(stored: &[u8]) -> Result<Entry, StorageError> {
    let (&header, _) = stored.split_first().ok_or_else(bad)?;
    let expires_at = deadline(stored)?;
    let start = if expires_at.is_some() { 9 } else { 1 };
    let body = stored.get(start..).ok_or_else(bad)?;
    let value = match header >> 4 {
        0 => Value::String(Bytes::copy_from_slice(body)),
        code => {
            let kind = kind_of(code).ok_or_else(bad)?;
            if body.len() != header_len(kind) {
                return Err(bad());
            }
            let (version, counts) = body.split_at(VERSION_LEN);
            let number = |i: usize| -> Result<u64, StorageError> {
                let bytes = counts.get(i * 8..i * 8 + 8).ok_or_else(bad)?;
                Ok(u64::from_be_bytes(bytes.try_into().map_err(|_| bad())?))
            };
            Value::Collection(Collection {
                kind,
                version: decode_version(version).ok_or_else(bad)?,
                len: number(0)?,
                touched: number(1)?,
                head: if kind == Kind::List { number(2)? } else { 0 },
            })
        }
    };
    if header & !(0xf0 | EXPIRING) != 0 {
        return Err(bad());
    }
    Ok(Entry { value, expires_at })
}

/// A version as 12 big-endian bytes, so that element prefixes sort by
/// version.
pub fn encode_version(v: Version) -> [u8; VERSION_LEN] {
    let mut out = [0u8; VERSION_LEN];
    out[..8].copy_from_slice(&v.stamp.to_be_bytes());
    out[8..].copy_from_slice(&v.seq.to_be_bytes());
    out
}

/// Inverse of [`encode_version`].
pub fn decode_version(bytes: &[u8]) -> Option<Version> {
    let stamp = u64::from_be_bytes(bytes.get(..8)?.try_into().ok()?);
    let seq = u32::from_be_bytes(bytes.get(8..VERSION_LEN)?.try_into().ok()?);
    (bytes.len() == VERSION_LEN).then_some(Version { stamp, seq })
}

/// The `data` keyspace key of a user key: the key itself, except that the
/// empty key and keys starting with a zero byte get a zero byte in front.
/// The mapping is one-to-one, keeps byte order, never yields an empty key,
/// and is the identity for every other key (so a store written before the
/// escape existed needs only its zero-led keys moved).
pub fn data_key(key: &[u8]) -> Bytes {
    if key.first().is_some_and(|b| *b != 0) {
        return Bytes::copy_from_slice(key);
    }
    let mut out = BytesMut::with_capacity(key.len() + 1);
    out.put_u8(0);
    out.put_slice(key);
    out.freeze()
}

/// Inverse of [`data_key`].
pub fn user_key(stored: &[u8]) -> Bytes {
    match stored.split_first() {
        Some((0, rest)) => Bytes::copy_from_slice(rest),
        _ => Bytes::copy_from_slice(stored),
    }
}

/// The `elements` keyspace key of subkey `sub` of incarnation `version`.
pub fn element_key(version: Version, sub: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(VERSION_LEN + sub.len());
    out.put_slice(&encode_version(version));
    out.put_slice(sub);
    out.freeze()
}

/// The version and subkey of an `elements` keyspace key.
pub fn split_element_key(stored: &[u8]) -> Result<(Version, Bytes), StorageError> {
    let (version, sub) = stored.split_at_checked(VERSION_LEN).ok_or_else(bad)?;
    Ok((
        decode_version(version).ok_or_else(bad)?,
        Bytes::copy_from_slice(sub),
    ))
}

/// The `expires` index key of `key` expiring at `at`.
pub fn index_key(at: u64, key: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(8 + key.len());
    out.put_u64(at);
    out.put_slice(key);
    out.freeze()
}

/// The deadline and user key of an `expires` index key.
pub fn split_index_key(index: &[u8]) -> Result<(u64, Bytes), StorageError> {
    let (at, key) = index.split_at_checked(8).ok_or_else(bad)?;
    let at = u64::from_be_bytes(at.try_into().map_err(|_| bad())?);
    Ok((at, Bytes::copy_from_slice(key)))
}

fn bad() -> StorageError {
    StorageError::Corrupt {
        keyspace: "data",
        reason: "a stored record has no valid header".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_with_and_without_deadline() {
        for (value, at) in [
            (&b""[..], None),
            (b"v", None),
            (b"\x01\x00binary", Some(1_700_000_000_000)),
            (b"", Some(u64::MAX)),
        ] {
            let stored = encode(value, at);
            assert_eq!(stored.len(), value.len() + if at.is_some() { 9 } else { 1 });
            assert_eq!(deadline(&stored).unwrap(), at);
            let entry = decode(&stored).unwrap();
            assert_eq!(entry.value, Value::String(Bytes::copy_from_slice(value)));
            assert_eq!(entry.expires_at, at);
        }
        for corrupt in [&b""[..], b"\x02v", b"\x01\x00\x00", b"\x10short", b"\x70"] {
            assert!(decode(corrupt).is_err(), "{corrupt:?}");
        }
    }

    #[test]
    fn collections_round_trip() {
        for at in [None, Some(42)] {
            for kind in [Kind::Hash, Kind::Set, Kind::List, Kind::ZSet] {
                let entry = Entry {
                    value: Value::Collection(Collection {
                        kind,
                        version: Version {
                            stamp: 1 << 40 | 7,
                            seq: 3,
                        },
                        len: 1_000_000,
                        touched: 99,
                        head: if kind == Kind::List { 1 << 63 } else { 0 },
                    }),
                    expires_at: at,
                };
                let stored = encode_entry(&entry);
                assert_eq!(decode(&stored).unwrap(), entry);
                assert_eq!(deadline(&stored).unwrap(), at);
                assert_eq!(
                    version_of(&stored).unwrap(),
                    Some(Version {
                        stamp: 1 << 40 | 7,
                        seq: 3
                    })
                );
            }
        }
    }

    #[test]
    fn data_keys_escape_the_empty_key_and_keep_order() {
        let keys: Vec<&[u8]> = vec![b"", b"\x00", b"\x00\x00", b"\x00a", b"\x01", b"a", b"a\x00"];
        let stored: Vec<Bytes> = keys.iter().map(|k| data_key(k)).collect();
        assert!(stored.iter().all(|k| !k.is_empty()));
        assert!(stored.windows(2).all(|w| w[0] < w[1]), "{stored:?}");
        for (k, s) in keys.iter().zip(&stored) {
            assert_eq!(&user_key(s)[..], *k);
        }
        assert_eq!(&data_key(b"plain")[..], b"plain");
    }

    #[test]
    fn element_keys_sort_by_version_then_subkey() {
        let v = |stamp, seq| Version { stamp, seq };
        let a = element_key(v(1, 0), b"\x01zz");
        let b = element_key(v(1, 1), b"\x01aa");
        let c = element_key(v(2, 0), b"");
        assert!(a < b && b < c);
        assert_eq!(
            split_element_key(&b).unwrap(),
            (v(1, 1), Bytes::from_static(b"\x01aa"))
        );
    }

    #[test]
    fn index_keys_sort_by_deadline_then_key() {
        let a = index_key(5, b"zz");
        let b = index_key(6, b"aa");
        assert!(a < b);
        assert_eq!(split_index_key(&b).unwrap(), (6, Bytes::from_static(b"aa")));
        assert!(split_index_key(b"short").is_err());
    }
}
