//! Glob-style patterns as KEYS and SCAN MATCH read them: a port of Redis
//! 7.0's `stringmatchlen` (case-sensitive), byte for byte.
//!
//! - `*` matches any run of bytes, `?` any one byte.
//! - `[abc]` one of a set, `[^abc]` none of it, `[a-z]` a range (either
//!   order), `\x` inside a set a literal `x`. An unclosed `[` takes the rest
//!   of the pattern as its set.
//! - `\x` outside a set matches `x` literally; a trailing `\` matches `\`.
//!
//! Quirks kept on purpose, because clients see them: ranges compare bytes as
//! C's signed `char` (so `[a-\xff]` is empty: 0xff is -1), and, as in
//! Redis with the CVE-2024-31228 fix that Debian's 7.0.15 carries, a
//! pattern nesting more than 1000 `*` never matches. A failed `*` stops the
//! search early, as Redis does to stay linear on hostile patterns.

/// Whether `string` matches `pattern`.
pub fn matches(pattern: &[u8], string: &[u8]) -> bool {
    let mut skip_longer = false;
    match_from(pattern, string, &mut skip_longer, 0)
}

/// The bytes every match of `pattern` starts with: those before its first
/// special character. Lets KEYS and SCAN seek instead of reading every key.
pub fn literal_prefix(pattern: &[u8]) -> &[u8] {
    let end = pattern
        .iter()
        .position(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
        .unwrap_or(pattern.len());
    pattern.get(..end).unwrap_or_default()
}

/// Byte `i` of `s`, or 0 past the end (C strings end in NUL; Redis reads
/// one byte past a pattern in places, and finds its terminator there).
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

/// A byte as C's signed `char`.
fn signed(b: u8) -> i32 {
    i32::from(b as i8)
}

fn match_from(pattern: &[u8], string: &[u8], skip_longer: &mut bool, nesting: u32) -> bool {
    if nesting > 1000 {
        return false;
    }
    let (mut p, mut s) = (0usize, 0usize);
    let (plen, slen) = (pattern.len(), string.len());
    while p < plen && s < slen {
        match at(pattern, p) {
            b'*' => {
                while p + 1 < plen && at(pattern, p + 1) == b'*' {
                    p += 1;
                }
                if p + 1 == plen {
                    return true;
                }
                while s < slen {
                    let rest = pattern.get(p + 1..).unwrap_or_default();
                    let tail = string.get(s..).unwrap_or_default();
                    if match_from(rest, tail, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    s += 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => s += 1,
            b'[' => {
                p += 1;
                let negate = at(pattern, p) == b'^';
                if negate {
                    p += 1;
                }
                let c = at(string, s);
                let mut matched = false;
                loop {
                    if at(pattern, p) == b'\\' && plen - p >= 2 {
                        p += 1;
                        if at(pattern, p) == c {
                            matched = true;
                        }
                    } else if at(pattern, p) == b']' {
                        break;
                    } else if p >= plen {
                        p -= 1;
                        break;
                    } else if plen - p >= 3 && at(pattern, p + 1) == b'-' {
                        let (mut lo, mut hi) = (signed(at(pattern, p)), signed(at(pattern, p + 2)));
                        if lo > hi {
                            std::mem::swap(&mut lo, &mut hi);
                        }
                        p += 2;
                        if (lo..=hi).contains(&signed(c)) {
                            matched = true;
                        }
                    } else if at(pattern, p) == c {
                        matched = true;
                    }
                    p += 1;
                }
                if negate {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                s += 1;
            }
            b'\\' => {
                if plen - p >= 2 {
                    p += 1;
                }
                if at(pattern, p) != at(string, s) {
                    return false;
                }
                s += 1;
            }
            literal => {
                if literal != at(string, s) {
                    return false;
                }
                s += 1;
            }
        }
        p += 1;
        if s == slen {
            while at(pattern, p) == b'*' && p < plen {
                p += 1;
            }
            break;
        }
    }
    p >= plen && s == slen
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn yes(pattern: &str, string: &str) {
        assert!(
            matches(pattern.as_bytes(), string.as_bytes()),
            "{pattern:?} ~ {string:?}"
        );
    }

    #[track_caller]
    fn no(pattern: &str, string: &str) {
        assert!(
            !matches(pattern.as_bytes(), string.as_bytes()),
            "{pattern:?} !~ {string:?}"
        );
    }

    #[test]
    fn wildcards() {
        // An empty string matches no pattern but the empty one (KEYS *
        // lists the empty key only because it does not match at all).
        no("*", "");
        yes("*", "anything");
        yes("", "");
        no("", "a");
        yes("h?llo", "hello");
        no("h?llo", "hllo");
        yes("h*llo", "hllo");
        yes("h*llo", "heeeello");
        yes("a*b*c", "aXXbYYc");
        no("a*b*c", "aXXbYY");
        yes("a**", "a");
        yes("*a", "ba");
        no("*a", "ab");
        yes("a*", "a");
        no("?", "");
    }

    #[test]
    fn sets_and_ranges() {
        yes("h[ae]llo", "hello");
        yes("h[ae]llo", "hallo");
        no("h[ae]llo", "hillo");
        yes("h[^e]llo", "hallo");
        no("h[^e]llo", "hello");
        yes("h[a-b]llo", "hbllo");
        yes("h[b-a]llo", "hallo");
        no("h[a-b]llo", "hcllo");
        yes("[\\]]", "]");
        // "[a-]" is the range ']'..='a', closing bracket included.
        yes("[a-]", "]");
        no("[a-]", "-");
        yes("[abc", "b"); // unclosed: the rest is the set
        no("[abc", "d");
        no("[]", "]"); // an empty set matches nothing
        no("[]", "a");
        no("[a-\u{7f}]", "\u{0}");
    }

    #[test]
    fn signed_char_ranges() {
        // 0xff is -1 as a C char: [a-\xff] is the range -1..='a'.
        assert!(matches(b"[a-\xff]", b"\x00"));
        assert!(matches(b"[a-\xff]", b"a"));
        assert!(!matches(b"[a-\xff]", b"b"));
        assert!(matches(b"[\x80-\xff]", b"\x90"));
    }

    #[test]
    fn escapes() {
        yes("\\*", "*");
        no("\\*", "a");
        yes("a\\", "a\\");
        yes("\\\\", "\\");
        yes("h\\?llo", "h?llo");
        no("h\\?llo", "hello");
    }

    #[test]
    fn nesting_limit_matches_redis() {
        let key = "a".repeat(1100);
        yes(&"*a".repeat(1000), &key);
        no(&"*a".repeat(1001), &key);
    }

    #[test]
    fn hostile_patterns_stay_fast() {
        let key = "a".repeat(60);
        no(&format!("{}b", "a*".repeat(30)), &key);
    }

    #[test]
    fn prefixes() {
        assert_eq!(literal_prefix(b"user:*"), b"user:");
        assert_eq!(literal_prefix(b"user:1"), b"user:1");
        assert_eq!(literal_prefix(b"a?b"), b"a");
        assert_eq!(literal_prefix(b"[a]"), b"");
        assert_eq!(literal_prefix(b"a\\*"), b"a");
    }
}
