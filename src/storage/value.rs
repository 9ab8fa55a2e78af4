//! How a user key's value and deadline are laid out in the `data` keyspace,
//! and the `expires` index the background expirer reads.
//!
//! # Layout
//!
//! A stored value is a one-byte header, then (for a key with a deadline)
//! the deadline as 8 big-endian bytes of unix milliseconds, then the value:
//!
//! ```text
//! 0x00 value...                  no deadline
//! 0x01 deadline(8, BE) value...  expires at deadline
//! ```
//!
//! Why a header rather than a keyspace of deadlines: GET, the hot path,
//! stays one point lookup (a second keyspace would cost a second lookup,
//! mostly a miss, on every read); the deadline travels with the value
//! through everything that already moves values — commit effects, the
//! catch-up log, the snapshot stream (which ships stored bytes as they
//! are) — and DEBUG DIGEST, which hashes stored bytes, covers deadlines
//! without a change. The cost is one byte per key, nine with a deadline.
//!
//! # The expiry index
//!
//! The `expires` keyspace holds, for every stored key with a deadline, an
//! empty value under `deadline(8, BE) ++ key`, so the keys whose deadline
//! has passed are one ordered range read from the start, however few they
//! are among all keys. It is derived from `data` (a replica maintains it in
//! the same batch as the data it indexes) and is in no digest.
//!
//! This module only encodes and decodes; it never reads or writes fjall.

use bytes::{BufMut, Bytes, BytesMut};

use crate::command::op::Entry;

use super::StorageError;

/// Header byte of a value without a deadline.
const PLAIN: u8 = 0;
/// Header byte of a value followed by its deadline.
const EXPIRING: u8 = 1;

/// The stored bytes of `entry`.
pub fn encode(value: &[u8], expires_at: Option<u64>) -> Bytes {
    let mut out = BytesMut::with_capacity(value.len() + 9);
    match expires_at {
        None => out.put_u8(PLAIN),
        Some(at) => {
            out.put_u8(EXPIRING);
            out.put_u64(at);
        }
    }
    out.put_slice(value);
    out.freeze()
}

/// The deadline of stored bytes, reading only the header.
pub fn deadline(stored: &[u8]) -> Result<Option<u64>, StorageError> {
    match stored.split_first() {
        Some((&PLAIN, _)) => Ok(None),
        Some((&EXPIRING, rest)) => match rest.get(..8) {
            Some(at) => Ok(Some(u64::from_be_bytes(at.try_into().map_err(|_| bad())?))),
            None => Err(bad()),
        },
        _ => Err(bad()),
    }
}

/// The entry stored as `stored`.
pub fn decode(stored: &[u8]) -> Result<Entry, StorageError> {
    let expires_at = deadline(stored)?;
    let start = if expires_at.is_some() { 9 } else { 1 };
    Ok(Entry {
        value: Bytes::copy_from_slice(stored.get(start..).ok_or_else(bad)?),
        expires_at,
    })
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
        reason: "a stored value has no valid expiry header".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_with_and_without_deadline() {
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
            assert_eq!((&entry.value[..], entry.expires_at), (value, at));
        }
        for corrupt in [&b""[..], b"\x02v", b"\x01\x00\x00"] {
            assert!(decode(corrupt).is_err(), "{corrupt:?}");
        }
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
