//! SCAN cursors: the numbers clients pass back, and the key positions they
//! stand for.
//!
//! Redis's cursor walks hash buckets; ours walks key order. A SCAN step
//! starts at a *bound* (every key `>=` it is still to come, every key below
//! it has been returned by earlier steps) and ends with the next bound: the
//! shortest byte string above the last key examined and at or below the
//! next key ([`super::keyspace::scan`]). The cursor is that bound, written
//! as a number small enough for every client (below 2^53, so even a
//! JavaScript `Number` holds it exactly):
//!
//! - `0`: the start (and, as a reply, the end).
//! - A bound of 1 to 6 bytes is written into the cursor itself (bit 0 is
//!   0): `bytes << 4 | len << 1`. Such a cursor works on any node, across
//!   restarts.
//! - A longer bound is kept in a process-wide table of 16384 slots (bit 0
//!   is 1), and the cursor holds the slot, a generation and the bound's
//!   first 3 bytes (a *hint*). If the slot has since been reused (16384
//!   later long cursors) or the cursor comes to another process (the client
//!   reconnected to another node, or this one restarted), the step resumes
//!   at the hint instead, which is never after the true bound.
//!
//! # Guarantees
//!
//! Every key present from the first step to the last is returned: a step
//! resumes at its bound or (from a lost slot) before it, never after. A key
//! may come back more than once (as in Redis), more so after a lost slot.
//! A cursor a client makes up decodes to some bound and is served from
//! there, as Redis serves any number.
//!
//! The table holds at most 16384 bounds, each no longer than some key.
//! Decoding a cursor for a reused slot with the same generation and hint
//! would resume at the wrong bound; that takes 2^26 (67 million) long
//! cursors issued while one client holds its cursor.

use std::sync::Mutex;

use bytes::Bytes;

/// Longest bound written into the cursor itself.
const DIRECT_MAX: usize = 6;
/// Bytes of a long bound kept in its cursor as a fallback.
const HINT_LEN: usize = 3;
const SLOT_BITS: u32 = 14;
const SLOTS: u64 = 1 << SLOT_BITS;
const GENERATION_BITS: u32 = 12;

/// Bound cursors by slot: (cursor, bound).
struct Table {
    slots: Vec<Option<(u64, Bytes)>>,
    issued: u64,
}

static TABLE: Mutex<Table> = Mutex::new(Table {
    slots: Vec::new(),
    issued: 0,
});

/// The cursor for `bound` (the empty bound is the start, cursor 0).
pub fn encode(bound: &Bytes) -> u64 {
    if bound.is_empty() {
        return 0;
    }
    if bound.len() <= DIRECT_MAX {
        return (pack(bound, DIRECT_MAX) << 4) | ((bound.len() as u64) << 1);
    }
    let hint = bound.get(..HINT_LEN).unwrap_or_default();
    let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
    if table.slots.is_empty() {
        table.slots = vec![None; SLOTS as usize];
    }
    let slot = table.issued % SLOTS;
    let generation = (table.issued / SLOTS) % (1 << GENERATION_BITS);
    table.issued += 1;
    let cursor = (pack(hint, HINT_LEN) << 29)
        | ((hint.len() as u64) << 27)
        | (slot << 13)
        | (generation << 1)
        | 1;
    if let Some(entry) = table.slots.get_mut(slot as usize) {
        *entry = Some((cursor, bound.clone()));
    }
    cursor
}

/// The bound `cursor` stands for: exact for cursor 0, a short bound, or a
/// long one still in this process's table; otherwise the long bound's hint.
pub fn decode(cursor: u64) -> Bytes {
    if cursor & 1 == 0 {
        let len = ((cursor >> 1) & 7) as usize;
        return unpack(cursor >> 4, DIRECT_MAX, len.min(DIRECT_MAX));
    }
    let slot = (cursor >> 13) % SLOTS;
    {
        let table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(Some((issued, bound))) = table.slots.get(slot as usize)
            && *issued == cursor
        {
            return bound.clone();
        }
    }
    let len = ((cursor >> 27) & 3) as usize;
    unpack(cursor >> 29, HINT_LEN, len.min(HINT_LEN))
}

/// `bytes` (at most `width`) as a big-endian number `width` bytes wide.
fn pack(bytes: &[u8], width: usize) -> u64 {
    let mut n = 0u64;
    for i in 0..width {
        n = (n << 8) | u64::from(bytes.get(i).copied().unwrap_or(0));
    }
    n
}

/// The first `len` of the `width` big-endian bytes of `n`.
fn unpack(n: u64, width: usize, len: usize) -> Bytes {
    let all = n.to_be_bytes();
    let start = all.len().saturating_sub(width);
    Bytes::copy_from_slice(all.get(start..start + len).unwrap_or_default())
}

/// Parses a cursor argument as Redis does (C's `strtoul` in base 10, plus
/// Redis's checks): `None` is "ERR invalid cursor". Like `strtoul` it takes
/// a sign (`-1` is the largest cursor), reads up to a NUL byte, and reads
/// an empty string as 0.
pub fn parse(arg: &[u8]) -> Option<u64> {
    let text = arg.split(|b| *b == 0).next().unwrap_or_default();
    let Some(&first) = text.first() else {
        return Some(0);
    };
    if matches!(first, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r') {
        return None;
    }
    let (negative, digits) = match first {
        b'-' => (true, text.get(1..).unwrap_or_default()),
        b'+' => (false, text.get(1..).unwrap_or_default()),
        _ => (false, text),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut n = 0u64;
    for d in digits {
        n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if negative { n.wrapping_neg() } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_bounds_live_in_the_cursor() {
        for bound in [&b"a"[..], b"a\0", b"\xff\xff\xff\xff\xff\xff", b"key:1"] {
            let cursor = encode(&Bytes::copy_from_slice(bound));
            assert_ne!(cursor, 0);
            assert!(cursor < 1 << 53);
            assert_eq!(cursor & 1, 0);
            assert_eq!(decode(cursor), bound);
        }
        assert_eq!(encode(&Bytes::new()), 0);
        assert_eq!(decode(0), Bytes::new());
    }

    #[test]
    fn long_bounds_go_through_the_table() {
        let bound = Bytes::from_static(b"session:4f1c9a");
        let cursor = encode(&bound);
        assert_eq!(cursor & 1, 1);
        assert!(cursor < 1 << 53);
        assert_eq!(decode(cursor), bound);
        // Another generation in the same slot: only the hint is left.
        let stale = cursor ^ (1 << 1);
        assert_eq!(decode(stale), Bytes::from_static(b"ses"));
    }

    #[test]
    fn any_number_decodes() {
        for cursor in [1, 2, u64::MAX, 1 << 63, 12345, (7 << 1) | (1 << 60)] {
            let _ = decode(cursor);
        }
    }

    #[test]
    fn parses_like_strtoul() {
        assert_eq!(parse(b"0"), Some(0));
        assert_eq!(parse(b""), Some(0));
        assert_eq!(parse(b"+7"), Some(7));
        assert_eq!(parse(b"007"), Some(7));
        assert_eq!(parse(b"-1"), Some(u64::MAX));
        assert_eq!(parse(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse(b"5\0junk"), Some(5));
        for bad in [
            &b"18446744073709551616"[..],
            b" 1",
            b"1 ",
            b"abc",
            b"-",
            b"+",
            b"0x1",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }
}
