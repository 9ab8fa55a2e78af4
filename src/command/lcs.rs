//! LCS: the longest common subsequence of two keys' strings, as Redis 7.0
//! computes it, with LEN (just its length), IDX (the matching ranges),
//! MINMATCHLEN (drop shorter ranges) and WITHMATCHLEN (give each range's
//! length).
//!
//! This module owns the parsing of a request into an [`Lcs`] and the pure
//! computation of its reply from the two strings. It must never do I/O or
//! touch storage: the caller reads both keys (a missing key is the empty
//! string) and hands their bytes to [`Lcs::eval`]. A key of another type
//! would be the caller's to refuse, and Redis's text for that is not
//! WRONGTYPE but `ERR The specified keys must contain string values`,
//! given before the options are even parsed.
//!
//! # The algorithm, and which subsequence
//!
//! Several subsequences can be longest; Redis's choice, which we reproduce,
//! comes from the classic dynamic program: `L(i, j)` is the LCS length of
//! the first `i` bytes of `a` and the first `j` of `b`, and the walk back
//! from `(len a, len b)` takes a matching byte diagonally, else steps to
//! `(i-1, j)` if `L(i-1, j) > L(i, j-1)` and to `(i, j-1)` otherwise. IDX
//! reports the runs of consecutive diagonal steps in the order the walk
//! meets them, that is from the end of the strings to their start, each as
//! `[[a_start, a_end], [b_start, b_end]]` (inclusive, 0-based), plus its
//! length with WITHMATCHLEN.
//!
//! # Memory and time
//!
//! Redis keeps the whole table of 32-bit lengths and refuses (with the
//! error text in [`TOO_MUCH_MEMORY`]) when `(len a + 1) * (len b + 1) * 4`
//! bytes would exceed 512 MB. We apply exactly that bound, so every reply
//! is Redis's, but store only one bit per cell (the walk's direction where
//! the bytes differ) plus two rows of lengths: at most 16 MB for the
//! largest input Redis accepts, and nothing but the two rows for LEN. The
//! time is still `len a * len b` steps (about 134 million at the bound;
//! Redis takes seconds there too), which is why the bound matters: a
//! replica must never be made to allocate gigabytes or run for minutes on
//! one read.
//!
//! # Reply shape
//!
//! The plain form replies the subsequence (a bulk string, empty if there
//! is none) and LEN an integer. IDX replies, in RESP2, an array of four
//! items: `"matches"`, the array of ranges, `"len"`, the length. (RESP3
//! makes it a map of the same two pairs; [`Outcome`] has no map, so that
//! is for the reply layer to render from this array.)

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use super::op::Outcome;
use super::string::MAX_STRING_LEN;
use super::{CommandError, option_name, parse_i64};

/// Redis's error for LEN and IDX together.
pub const LEN_AND_IDX: &str = "ERR If you want both the length and indexes, please just use IDX.";

/// Redis's error for a string of 2^32 - 2 bytes or more.
pub const TOO_LONG: &str = "ERR String too long for LCS";

/// Redis's error when the table it would allocate exceeds 512 MB
/// (`proto-max-bulk-len`).
pub const TOO_MUCH_MEMORY: &str =
    "ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len";

/// Redis's error when the table's size does not even fit in 64 bits
/// (unreachable with strings of at most 512 MB, kept for completeness).
pub const ALLOCATION_FAILED: &str =
    "ERR Insufficient memory, failed allocating transient memory for LCS";

/// What LCS replies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LcsReply {
    /// No option: the subsequence itself.
    Subsequence,
    /// LEN: its length.
    Len,
    /// IDX: the matching ranges and the length.
    Idx,
}

/// A parsed `LCS key1 key2 [LEN] [IDX] [MINMATCHLEN len] [WITHMATCHLEN]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lcs {
    /// The first key.
    pub a: Bytes,
    /// The second key.
    pub b: Bytes,
    /// What to reply (LEN and IDX together are refused by the parser).
    pub reply: LcsReply,
    /// MINMATCHLEN: IDX omits ranges shorter than this (0, the default or
    /// any negative amount, omits none).
    pub min_match_len: u64,
    /// WITHMATCHLEN: IDX gives each range's length too.
    pub with_match_len: bool,
}

/// Parses `LCS key1 key2 [options]`; `args[0]` is the command name and the
/// caller has checked the arity (-3). Options may come in any order and
/// repeat; MINMATCHLEN and WITHMATCHLEN are accepted (and ignored) without
/// IDX, as in Redis. The first bad option is the error (a syntax error, or
/// MINMATCHLEN's integer); LEN with IDX is checked after all of them.
pub fn parse_lcs(args: &[Bytes]) -> Result<Lcs, CommandError> {
    let key = |i: usize| args.get(i).cloned().unwrap_or_default();
    let (mut len, mut idx, mut with_match_len, mut min_match_len) = (false, false, false, 0);
    let mut j = 3;
    while let Some(opt) = args.get(j) {
        match option_name(opt).as_str() {
            "idx" => idx = true,
            "len" => len = true,
            "withmatchlen" => with_match_len = true,
            "minmatchlen" if j + 1 < args.len() => {
                let n = parse_i64(args.get(j + 1).map(|a| &a[..]).unwrap_or_default())?;
                min_match_len = u64::try_from(n).unwrap_or(0);
                j += 1;
            }
            _ => return Err(CommandError::Syntax),
        }
        j += 1;
    }
    let reply = match (len, idx) {
        (true, true) => return Err(CommandError::Other(LEN_AND_IDX.into())),
        (true, false) => LcsReply::Len,
        (false, true) => LcsReply::Idx,
        (false, false) => LcsReply::Subsequence,
    };
    Ok(Lcs {
        a: key(1),
        b: key(2),
        reply,
        min_match_len,
        with_match_len,
    })
}

impl Lcs {
    /// The reply, given the two keys' values (`None`: a missing key, taken
    /// as the empty string). Inputs past Redis's bounds get Redis's errors
    /// (see the module docs).
    pub fn eval(&self, a: Option<&[u8]>, b: Option<&[u8]>) -> Outcome {
        let (a, b) = (a.unwrap_or_default(), b.unwrap_or_default());
        if let Err(error) = check_size(a.len() as u64, b.len() as u64) {
            return Outcome::Error(error.into());
        }
        if self.reply == LcsReply::Len {
            return Outcome::Integer(i64::from(lcs_len(a, b)));
        }
        let table = Table::build(a, b);
        let walk = table.walk(a, b);
        let len = i64::from(table.len);
        if self.reply == LcsReply::Subsequence {
            return Outcome::Value(Some(Bytes::from(walk.subsequence)));
        }
        let int = |n: usize| Outcome::Integer(i64::try_from(n).unwrap_or(i64::MAX));
        let matches = walk
            .ranges
            .iter()
            .filter(|r| self.min_match_len == 0 || r.len() as u64 >= self.min_match_len)
            .map(|r| {
                let mut item = vec![
                    Outcome::Array(vec![int(r.a_start), int(r.a_end)]),
                    Outcome::Array(vec![int(r.b_start), int(r.b_end)]),
                ];
                if self.with_match_len {
                    item.push(int(r.len()));
                }
                Outcome::Array(item)
            })
            .collect();
        Outcome::Array(vec![
            Outcome::Value(Some(Bytes::from_static(b"matches"))),
            Outcome::Array(matches),
            Outcome::Value(Some(Bytes::from_static(b"len"))),
            Outcome::Integer(len),
        ])
    }
}

/// Redis's bounds on the lengths of the two strings, in its order: each
/// below 2^32 - 2 bytes, and its table of `(alen + 1) * (blen + 1)` 32-bit
/// cells within 512 MB. The error text if they are exceeded.
fn check_size(alen: u64, blen: u64) -> Result<(), &'static str> {
    let limit = u64::from(u32::MAX - 1);
    if alen >= limit || blen >= limit {
        return Err(TOO_LONG);
    }
    match (alen + 1)
        .checked_mul(blen + 1)
        .and_then(|c| c.checked_mul(4))
    {
        None => Err(ALLOCATION_FAILED),
        Some(bytes) if bytes > MAX_STRING_LEN => Err(TOO_MUCH_MEMORY),
        Some(_) => Ok(()),
    }
}

/// The LCS length alone, with two rows of the table.
fn lcs_len(a: &[u8], b: &[u8]) -> u32 {
    let mut prev = vec![0u32; b.len() + 1];
    let mut row = vec![0u32; b.len() + 1];
    for &x in a {
        fill_row(x, b, &prev, &mut row, |_, _| {});
        std::mem::swap(&mut prev, &mut row);
    }
    prev.last().copied().unwrap_or(0)
}

/// Computes row `i` of the table (`row`) from row `i - 1` (`prev`), where
/// `x` is `a[i - 1]`, calling `up(j, bool)` for each `j` in 1..=len b whose
/// bytes differ with whether `L(i-1, j) > L(i, j-1)` (the walk's step
/// there).
fn fill_row(x: u8, b: &[u8], prev: &[u32], row: &mut [u32], mut up: impl FnMut(usize, bool)) {
    let mut left = 0u32;
    if let Some(first) = row.first_mut() {
        *first = 0;
    }
    for (j, (&y, pair)) in b.iter().zip(prev.windows(2)).enumerate() {
        let (diag, above) = (pair[0], pair[1]);
        let here = if x == y {
            diag + 1
        } else {
            up(j, above > left);
            above.max(left)
        };
        if let Some(cell) = row.get_mut(j + 1) {
            *cell = here;
        }
        left = here;
    }
}

/// The walk's direction at each cell where the bytes differ: one bit per
/// cell of the table's `len a` by `len b` interior, set when the walk
/// steps up (to `i - 1`).
struct Table {
    /// The bits, row by row (`(i - 1) * len b + (j - 1)`).
    up: Vec<u64>,
    /// `len b`: the row width.
    width: usize,
    /// The LCS length.
    len: u32,
}

/// One IDX range, inclusive, 0-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Range {
    /// First matching byte in `a`.
    a_start: usize,
    /// Last matching byte in `a`.
    a_end: usize,
    /// First matching byte in `b`.
    b_start: usize,
    /// Last matching byte in `b`.
    b_end: usize,
}

impl Range {
    /// The number of bytes matched.
    fn len(&self) -> usize {
        self.a_end - self.a_start + 1
    }
}

/// What the walk back finds.
struct Walk {
    /// The subsequence.
    subsequence: Vec<u8>,
    /// The runs of consecutive matches, from the end of the strings back.
    ranges: Vec<Range>,
}

impl Table {
    /// Runs the dynamic program over `a` and `b` (whose size the caller
    /// has bounded).
    fn build(a: &[u8], b: &[u8]) -> Table {
        let width = b.len();
        let mut up = vec![0u64; (a.len() * width).div_ceil(64)];
        let mut prev = vec![0u32; width + 1];
        let mut row = vec![0u32; width + 1];
        for (i, &x) in a.iter().enumerate() {
            fill_row(x, b, &prev, &mut row, |j, step_up| {
                if step_up {
                    let bit = i * width + j;
                    if let Some(word) = up.get_mut(bit / 64) {
                        *word |= 1 << (bit % 64);
                    }
                }
            });
            std::mem::swap(&mut prev, &mut row);
        }
        let len = prev.last().copied().unwrap_or(0);
        Table { up, width, len }
    }

    /// Whether the walk steps up at `(i, j)` (both 1-based, bytes differ).
    fn steps_up(&self, i: usize, j: usize) -> bool {
        let bit = (i - 1) * self.width + (j - 1);
        self.up
            .get(bit / 64)
            .is_some_and(|word| word >> (bit % 64) & 1 == 1)
    }

    /// Walks back from the table's corner, as Redis does (module docs).
    fn walk(&self, a: &[u8], b: &[u8]) -> Walk {
        let mut subsequence = vec![0u8; self.len as usize];
        let mut ranges = Vec::new();
        let mut open: Option<Range> = None;
        let (mut i, mut j, mut k) = (a.len(), b.len(), subsequence.len());
        while i > 0 && j > 0 {
            let mut emit = false;
            let x = a.get(i - 1).copied();
            if x.is_some() && x == b.get(j - 1).copied() {
                if let (Some(slot), Some(x)) = (subsequence.get_mut(k.wrapping_sub(1)), x) {
                    *slot = x;
                }
                match open.as_mut() {
                    None => {
                        open = Some(Range {
                            a_start: i - 1,
                            a_end: i - 1,
                            b_start: j - 1,
                            b_end: j - 1,
                        })
                    }
                    Some(r) if r.a_start == i && r.b_start == j => {
                        r.a_start -= 1;
                        r.b_start -= 1;
                    }
                    // Not reachable (a match right after a match is always
                    // contiguous), but Redis closes the run here too.
                    Some(_) => emit = true,
                }
                if open.is_some_and(|r| r.a_start == 0 || r.b_start == 0) {
                    emit = true;
                }
                k = k.saturating_sub(1);
                i -= 1;
                j -= 1;
            } else {
                if self.steps_up(i, j) {
                    i -= 1;
                } else {
                    j -= 1;
                }
                emit = open.is_some();
            }
            if emit && let Some(r) = open.take() {
                ranges.push(r);
            }
        }
        Walk {
            subsequence,
            ranges,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::command::op::testing::args;

    fn lcs(s: &str) -> Lcs {
        parse_lcs(&args(s)).unwrap()
    }

    /// An outcome as redis-cli's raw (non-tty) output prints it: one line
    /// per integer or string, nested arrays flattened.
    fn flat(o: &Outcome) -> Vec<String> {
        match o {
            Outcome::Integer(n) => vec![n.to_string()],
            Outcome::Value(Some(v)) => vec![String::from_utf8_lossy(v).into_owned()],
            Outcome::Array(items) => items.iter().flat_map(flat).collect(),
            other => vec![format!("{other:?}")],
        }
    }

    fn run(s: &str, a: &str, b: &str) -> Vec<String> {
        flat(&lcs(s).eval(Some(a.as_bytes()), Some(b.as_bytes())))
    }

    #[test]
    fn errors_have_redis_text_and_order() {
        let cases = [
            ("lcs a b len idx", LEN_AND_IDX),
            ("lcs a b idx len", LEN_AND_IDX),
            ("lcs a b minmatchlen", "ERR syntax error"),
            (
                "lcs a b minmatchlen x",
                "ERR value is not an integer or out of range",
            ),
            ("lcs a b foo len idx", "ERR syntax error"),
            ("lcs a b len idx foo", "ERR syntax error"),
            (
                "lcs a b len idx minmatchlen x",
                "ERR value is not an integer or out of range",
            ),
            (
                "lcs a b idx minmatchlen 1.5",
                "ERR value is not an integer or out of range",
            ),
            ("lcs a b idx withmatchlen minmatchlen", "ERR syntax error"),
        ];
        for (input, want) in cases {
            assert_eq!(
                parse_lcs(&args(input)).unwrap_err().to_string(),
                want,
                "for {input:?}"
            );
        }
    }

    #[test]
    fn parses_options() {
        assert_eq!(
            lcs("LCS k1 k2 IdX MinMatchLen 4 withMATCHlen minmatchlen -3"),
            Lcs {
                a: Bytes::from_static(b"k1"),
                b: Bytes::from_static(b"k2"),
                reply: LcsReply::Idx,
                min_match_len: 0,
                with_match_len: true,
            }
        );
        assert_eq!(lcs("lcs a b len len").reply, LcsReply::Len);
        assert_eq!(
            lcs("lcs a b withmatchlen minmatchlen 2").reply,
            LcsReply::Subsequence
        );
    }

    #[test]
    fn replies_match_redis() {
        // Checked against redis-server 7.0.15 (`redis-cli` raw output).
        let (a, b) = ("ohmytext", "mynewtext");
        assert_eq!(run("lcs a b", a, b), ["mytext"]);
        assert_eq!(run("lcs a b len", a, b), ["6"]);
        assert_eq!(
            run("lcs a b idx", a, b),
            [
                "matches", "4", "7", "5", "8", "2", "3", "0", "1", "len", "6"
            ]
        );
        assert_eq!(
            run("lcs a b idx minmatchlen 4 withmatchlen", a, b),
            ["matches", "4", "7", "5", "8", "4", "len", "6"]
        );
        assert_eq!(
            run("lcs a b minmatchlen -5 idx withmatchlen", a, b),
            [
                "matches", "4", "7", "5", "8", "4", "2", "3", "0", "1", "2", "len", "6"
            ]
        );
        assert_eq!(run("lcs a b withmatchlen", a, b), ["mytext"]);
        assert_eq!(run("lcs a b minmatchlen 3 len", a, b), ["6"]);
        // The nesting of one IDX item.
        let Outcome::Array(top) = lcs("lcs a b idx withmatchlen").eval(Some(b"ab"), Some(b"ab"))
        else {
            panic!()
        };
        assert_eq!(
            top[1],
            Outcome::Array(vec![Outcome::Array(vec![
                Outcome::Array(vec![Outcome::Integer(0), Outcome::Integer(1)]),
                Outcome::Array(vec![Outcome::Integer(0), Outcome::Integer(1)]),
                Outcome::Integer(2),
            ])])
        );
    }

    #[test]
    fn missing_keys_are_empty_strings() {
        let l = lcs("lcs a b");
        assert_eq!(l.eval(None, None), Outcome::Value(Some(Bytes::new())));
        assert_eq!(
            lcs("lcs a b len").eval(None, Some(b"abc")),
            Outcome::Integer(0)
        );
        assert_eq!(
            flat(&lcs("lcs a b idx withmatchlen").eval(Some(b"abc"), None)),
            ["matches", "len", "0"]
        );
    }

    #[test]
    fn ties_and_runs_follow_redis() {
        // Checked against redis-server 7.0.15.
        let cases: &[(&str, &str, &str, &[&str])] = &[
            ("lcs a b", "abcabc", "cbacba", &["cbc"]),
            (
                "lcs a b idx withmatchlen",
                "abcabc",
                "cbacba",
                &[
                    "matches", "5", "5", "3", "3", "1", "4", "4", "1", "1", "1", "2", "2", "0",
                    "0", "1", "len", "3",
                ],
            ),
            ("lcs a b", "aaaa", "aa", &["aa"]),
            (
                "lcs a b idx",
                "aaaa",
                "aa",
                &["matches", "2", "3", "0", "1", "len", "2"],
            ),
            (
                "lcs a b idx",
                "xaaax",
                "aaa",
                &["matches", "1", "3", "0", "2", "len", "3"],
            ),
            (
                "lcs a b idx withmatchlen",
                "abXcdYef",
                "abcdef",
                &[
                    "matches", "6", "7", "4", "5", "2", "3", "4", "2", "3", "2", "0", "1", "0",
                    "1", "2", "len", "6",
                ],
            ),
            ("lcs a b idx", "abc", "xyz", &["matches", "len", "0"]),
        ];
        for (req, a, b, want) in cases {
            assert_eq!(run(req, a, b), *want, "{req} {a} {b}");
        }
    }

    #[test]
    fn refuses_what_redis_refuses() {
        // (11584 + 1)^2 * 4 bytes fits in 512 MB; one more byte does not
        // (redis-server 7.0.15 computes LEN of the first, refuses the
        // second).
        assert_eq!(check_size(11584, 11584), Ok(()));
        assert_eq!(check_size(11585, 11584), Err(TOO_MUCH_MEMORY));
        assert_eq!(check_size(0, 134_217_727), Ok(()));
        assert_eq!(check_size(1, 67_108_863), Ok(()));
        assert_eq!(check_size(1, 67_108_864), Err(TOO_MUCH_MEMORY));
        assert_eq!(check_size(u64::from(u32::MAX - 1), 0), Err(TOO_LONG));
        let big = vec![b'a'; 11585];
        let ok = vec![b'a'; 11584];
        let len = lcs("lcs a b len");
        assert_eq!(
            len.eval(Some(&big), Some(&ok)),
            Outcome::Error(TOO_MUCH_MEMORY.into())
        );
        assert_eq!(
            lcs("lcs a b idx").eval(Some(&big), Some(&big)),
            Outcome::Error(TOO_MUCH_MEMORY.into())
        );
    }

    proptest::proptest! {
        /// The walk's subsequence is common to both strings and as long as
        /// LEN says, and IDX's ranges tile it.
        #[test]
        fn walk_is_consistent(
            a in proptest::collection::vec(0u8..4, 0..40),
            b in proptest::collection::vec(0u8..4, 0..40),
        ) {
            let table = Table::build(&a, &b);
            let walk = table.walk(&a, &b);
            proptest::prop_assert_eq!(table.len, lcs_len(&a, &b));
            proptest::prop_assert_eq!(walk.subsequence.len(), table.len as usize);
            let is_sub = |s: &[u8], of: &[u8]| {
                let mut it = of.iter();
                s.iter().all(|c| it.any(|d| d == c))
            };
            proptest::prop_assert!(is_sub(&walk.subsequence, &a));
            proptest::prop_assert!(is_sub(&walk.subsequence, &b));
            let mut rebuilt = Vec::new();
            for r in walk.ranges.iter().rev() {
                proptest::prop_assert_eq!(r.a_end - r.a_start, r.b_end - r.b_start);
                proptest::prop_assert_eq!(&a[r.a_start..=r.a_end], &b[r.b_start..=r.b_end]);
                rebuilt.extend_from_slice(&a[r.a_start..=r.a_end]);
            }
            proptest::prop_assert_eq!(rebuilt, walk.subsequence);
        }
    }
}
