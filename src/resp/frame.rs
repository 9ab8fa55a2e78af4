//! Request framing: turns the bytes a client sent into the arguments of one
//! request.
//!
//! This module owns the RESP *request* grammar as Redis 7.0 accepts it
//! (`networking.c`: `processMultibulkBuffer`, `processInlineBuffer` and
//! `sdssplitargs`), the protocol limits, and the exact error texts Redis
//! answers with when a client breaks them.
//!
//! It must never do I/O, never panic on anything a client sends, and never
//! allocate from a length a client announced: a `$600000000` header costs
//! nothing until 600 MB have actually arrived (and is refused on sight when it
//! is over [`Limits::max_bulk_len`]).
//!
//! # The two request forms
//!
//! - **Multibulk**, the form every real client uses: `*N\r\n` then N bulk
//!   strings `$len\r\n<len bytes>\r\n`. Used when the first byte is `*`.
//! - **Inline**, for humans on telnet: any other line, ended by `\n` (an
//!   optional `\r` before it is dropped), split into words on blanks with
//!   Redis's quoting rules: `"double"` quotes understand `\n \r \t \b \a \\ \"`
//!   and `\xHH`; `'single'` quotes only `\'`. A closing quote must be followed
//!   by a blank or the end of the line.
//!
//! Requests with no arguments (`*0`, any negative count, blank lines) are
//! skipped, as Redis skips them, and parsing goes on with the next request.
//!
//! # Incomplete input
//!
//! `Ok(None)` means "read more and call again": no complete request is
//! buffered. Nothing of a partial request is consumed, so the buffer keeps
//! growing until the request is whole; only skipped empty requests in front
//! of it may have been discarded. [`RequestParser`] remembers how far it got,
//! so a large request arriving in many small reads is scanned once, not once
//! per read; [`parse_request`] is the stateless form of the same thing.
//!
//! # Zero copy
//!
//! A complete request is split off the front of the buffer and frozen; each
//! argument is a [`Bytes`] slice of it (quoted inline words, which differ from
//! their raw text, are the exception). A caller that keeps an argument for a
//! long time should copy it, or it pins the whole read chunk it came in.
//!
//! # Where we knowingly differ from Redis
//!
//! - Redis finds line ends with `strchr`, so a NUL byte before the line end
//!   makes it wait for more input forever. We look past NULs; an inline line
//!   is cut at its first NUL (as `sdssplitargs` does), and a NUL in a header
//!   is simply an invalid number.
//! - Redis refuses an inline line longer than 64 KB only if its end has not
//!   arrived yet when it looks, which depends on how TCP split it. We refuse
//!   every inline line longer than [`Limits::max_inline_len`], whole or not.
//! - Redis 7.0 allows up to `INT_MAX` arguments; our default limit is
//!   1024 * 1024 (the limit Redis had up to 6.2), and is configurable.
//!
//! Like Redis, we do not check that the two bytes after a header's `\r`, or
//! after a bulk's data, are `\n` / `\r\n`: they are skipped unseen.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

/// Redis's `proto-max-bulk-len` default: 512 MB.
pub const DEFAULT_MAX_BULK_LEN: u64 = 512 * 1024 * 1024;
/// Most arguments in one multibulk request. Redis 7.0 allows `INT_MAX`;
/// 1024 * 1024 is Redis 6.2's limit and is plenty for any real command.
pub const DEFAULT_MAX_MULTIBULK_LEN: u64 = 1024 * 1024;
/// Redis's `PROTO_INLINE_MAX_SIZE`: longest inline request, and longest
/// `*N` / `$N` header line, in bytes.
pub const DEFAULT_MAX_INLINE_LEN: usize = 64 * 1024;
/// Redis's `client-query-buffer-limit` default: 1 GB of unparsed input.
pub const DEFAULT_MAX_QUERY_BUFFER: usize = 1024 * 1024 * 1024;

/// How many `args` slots to reserve up front for a multibulk request, at
/// most: a client announcing a million arguments gets room for this many
/// until the arguments actually arrive (Redis reserves `min(N, 1024)` too).
const MAX_PREALLOCATED_ARGS: usize = 1024;

/// Protocol limits. The defaults are Redis 7.0's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Longest bulk string (one argument) in bytes; a longer `$len` header is
    /// refused as soon as it is seen. Redis: `proto-max-bulk-len`.
    pub max_bulk_len: u64,
    /// Most arguments in one multibulk request; a larger `*N` is refused as
    /// soon as it is seen.
    pub max_multibulk_len: u64,
    /// Longest inline request line, and longest `*N`/`$N` header line, in
    /// bytes.
    pub max_inline_len: usize,
    /// Most unparsed input buffered for one client, in bytes. Enforced by the
    /// connection (the frame parser never sees more than it is given).
    /// Redis: `client-query-buffer-limit`.
    pub max_query_buffer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: DEFAULT_MAX_BULK_LEN,
            max_multibulk_len: DEFAULT_MAX_MULTIBULK_LEN,
            max_inline_len: DEFAULT_MAX_INLINE_LEN,
            max_query_buffer: DEFAULT_MAX_QUERY_BUFFER,
        }
    }
}

/// A request that can never become valid, however many bytes follow.
///
/// The connection is unusable after it (we no longer know where the next
/// request starts): reply with the text as an error, flush, and close, as
/// Redis does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Redis's exact error text without the leading `-`, e.g.
    /// `ERR Protocol error: invalid bulk length`.
    #[error("{0}")]
    Protocol(String),
}

impl FrameError {
    /// The error text to send to the client (without the leading `-`).
    pub fn message(&self) -> &str {
        match self {
            FrameError::Protocol(text) => text,
        }
    }

    fn protocol(text: &str) -> Self {
        FrameError::Protocol(text.to_owned())
    }

    fn invalid_multibulk_length() -> Self {
        Self::protocol("ERR Protocol error: invalid multibulk length")
    }

    fn invalid_bulk_length() -> Self {
        Self::protocol("ERR Protocol error: invalid bulk length")
    }

    fn expected_dollar(got: u8) -> Self {
        // Redis formats the byte with %c and then replaces CR and LF with
        // spaces so the error line stays one line; we do the same (and treat
        // NUL alike, which Redis's string handling would cut the text at).
        let got = match got {
            b'\r' | b'\n' | 0 => ' ',
            other => char::from(other),
        };
        FrameError::Protocol(format!("ERR Protocol error: expected '$', got '{got}'"))
    }

    fn too_big_inline_request() -> Self {
        Self::protocol("ERR Protocol error: too big inline request")
    }

    fn too_big_mbulk_count_string() -> Self {
        Self::protocol("ERR Protocol error: too big mbulk count string")
    }

    fn too_big_bulk_count_string() -> Self {
        Self::protocol("ERR Protocol error: too big bulk count string")
    }

    fn unbalanced_quotes() -> Self {
        Self::protocol("ERR Protocol error: unbalanced quotes in request")
    }
}

/// Parses one request from the front of `buf`, from scratch.
///
/// `Ok(Some(args))` consumed exactly that request (and any skipped empty
/// requests before it). `Ok(None)`: no complete request yet; read more and
/// call again. Prefer a long-lived [`RequestParser`] on a connection: this
/// function rescans a partial request from its start on every call.
pub fn parse_request(
    buf: &mut BytesMut,
    limits: &Limits,
) -> Result<Option<Vec<Bytes>>, FrameError> {
    RequestParser::new().parse(buf, limits)
}

/// A request parser that remembers its progress through a partial request.
///
/// Contract: between calls that returned `Ok(None)`, pass the same buffer,
/// changed only by appending. After `Ok(Some(_))` or an error it starts
/// afresh. If the buffer shrank behind its back it notices and rescans; any
/// other tampering gives wrong arguments (never a panic).
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Progress through a multibulk request whose `*N` line has been read.
    multibulk: Option<Multibulk>,
    /// Where the arguments read so far lie in the buffer. Kept across
    /// requests so its allocation is reused.
    args: Vec<Range<usize>>,
    /// Offset in the buffer up to which the line being read has been
    /// searched for its terminator without finding it, so the next call does
    /// not search those bytes again.
    scanned: usize,
}

#[derive(Debug)]
struct Multibulk {
    /// Arguments still to read.
    remaining: usize,
    /// Offset of the next unread byte: a `$len` line, or the data of the
    /// current argument when `bulk_len` is known.
    pos: usize,
    /// Length of the current argument, once its header has been read.
    bulk_len: Option<usize>,
}

/// What one parsing step found at the front of the buffer.
enum Step {
    /// The request is not all there yet.
    Incomplete,
    /// A request with no arguments, this many bytes long: skip it.
    Empty(usize),
    /// A complete request, already split off the buffer.
    Request(Vec<Bytes>),
}

impl RequestParser {
    /// A parser at the start of a request.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forgets any progress, so the next call parses from the buffer's start.
    pub fn reset(&mut self) {
        self.multibulk = None;
        self.scanned = 0;
        self.args.clear();
        if self.args.capacity() > MAX_PREALLOCATED_ARGS {
            // Do not keep a huge request's worth of slots around.
            self.args = Vec::new();
        }
    }

    /// Parses one request from the front of `buf`; see [`parse_request`].
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, FrameError> {
        let result = self.parse_inner(buf, limits);
        if result.is_err() {
            // The stream is unusable after a protocol error; leave no state
            // behind in case the caller parses anyway.
            self.reset();
        }
        result
    }

    fn parse_inner(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, FrameError> {
        if self.is_stale(buf) {
            self.reset();
        }
        loop {
            let step = if self.multibulk.is_some() {
                self.multibulk(buf, limits)?
            } else {
                match buf.first() {
                    None => return Ok(None),
                    Some(b'*') => self.multibulk(buf, limits)?,
                    Some(_) => self.inline(buf, limits)?,
                }
            };
            match step {
                Step::Incomplete => return Ok(None),
                Step::Empty(len) => {
                    buf.advance(len);
                    self.reset();
                }
                Step::Request(args) => {
                    self.reset();
                    return Ok(Some(args));
                }
            }
        }
    }

    /// True if the buffer is shorter than what we already looked at, i.e.
    /// the caller broke the contract; restarting is the only safe answer.
    fn is_stale(&self, buf: &BytesMut) -> bool {
        self.scanned > buf.len() || self.multibulk.as_ref().is_some_and(|mb| mb.pos > buf.len())
    }

    fn multibulk(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Step, FrameError> {
        let mb = match &mut self.multibulk {
            Some(mb) => mb,
            None => {
                // The `*N` line starts at offset 0.
                let Some(cr) = find_byte(buf, 0, &mut self.scanned, b'\r') else {
                    if buf.len() > limits.max_inline_len {
                        return Err(FrameError::too_big_mbulk_count_string());
                    }
                    return Ok(Step::Incomplete);
                };
                // Redis waits for one byte after the '\r' (and skips it
                // without looking at it).
                if cr + 1 >= buf.len() {
                    return Ok(Step::Incomplete);
                }
                let count = buf
                    .get(1..cr)
                    .and_then(string2ll)
                    .filter(|&n| {
                        n <= 0 || u64::try_from(n).is_ok_and(|n| n <= limits.max_multibulk_len)
                    })
                    .ok_or_else(FrameError::invalid_multibulk_length)?;
                let next = cr + 2;
                if count <= 0 {
                    // `*0` and `*-1` carry no command; Redis ignores them.
                    return Ok(Step::Empty(next));
                }
                let remaining =
                    usize::try_from(count).map_err(|_| FrameError::invalid_multibulk_length())?;
                self.scanned = next;
                // Sized by the count only up to a small cap: the count is the
                // client's word, not data that has arrived.
                self.args.reserve(remaining.min(MAX_PREALLOCATED_ARGS));
                self.multibulk.insert(Multibulk {
                    remaining,
                    pos: next,
                    bulk_len: None,
                })
            }
        };

        while mb.remaining > 0 {
            let len = match mb.bulk_len {
                Some(len) => len,
                None => {
                    let start = mb.pos;
                    let Some(cr) = find_byte(buf, start, &mut self.scanned, b'\r') else {
                        if buf.len() - start > limits.max_inline_len {
                            return Err(FrameError::too_big_bulk_count_string());
                        }
                        return Ok(Step::Incomplete);
                    };
                    if cr + 1 >= buf.len() {
                        return Ok(Step::Incomplete);
                    }
                    // `cr >= start`, so the line has a first byte.
                    let first = buf.get(start).copied().unwrap_or(b'\r');
                    if first != b'$' {
                        return Err(FrameError::expected_dollar(first));
                    }
                    // Checked against the limit here, on the header alone:
                    // nothing is reserved for the data, which is only ever
                    // looked at once it has all arrived.
                    let len = buf
                        .get(start + 1..cr)
                        .and_then(string2ll)
                        .and_then(|n| u64::try_from(n).ok())
                        .filter(|&n| n <= limits.max_bulk_len)
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or_else(FrameError::invalid_bulk_length)?;
                    mb.pos = cr + 2;
                    self.scanned = mb.pos;
                    mb.bulk_len = Some(len);
                    len
                }
            };
            // The data and the two bytes after it (`\r\n`, unchecked as in
            // Redis) must all be here.
            let end = mb
                .pos
                .checked_add(len)
                .and_then(|end| end.checked_add(2))
                .ok_or_else(FrameError::invalid_bulk_length)?;
            if buf.len() < end {
                return Ok(Step::Incomplete);
            }
            self.args.push(mb.pos..mb.pos + len);
            mb.pos = end;
            self.scanned = end;
            mb.bulk_len = None;
            mb.remaining -= 1;
        }

        let frame = buf.split_to(mb.pos).freeze();
        // Every range ends before `mb.pos`, the length of `frame`.
        let args = self
            .args
            .iter()
            .map(|range| frame.slice(range.clone()))
            .collect();
        Ok(Step::Request(args))
    }

    fn inline(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Step, FrameError> {
        let Some(newline) = find_byte(buf, 0, &mut self.scanned, b'\n') else {
            if buf.len() > limits.max_inline_len {
                return Err(FrameError::too_big_inline_request());
            }
            return Ok(Step::Incomplete);
        };
        // Refuse long lines whether or not their end has arrived, so the
        // answer does not depend on how TCP split the bytes.
        if newline > limits.max_inline_len {
            return Err(FrameError::too_big_inline_request());
        }
        let line_len = if newline > 0 && buf.get(newline - 1) == Some(&b'\r') {
            newline - 1
        } else {
            newline
        };
        let line = buf.get(..line_len).unwrap_or_default();
        // sdssplitargs works on a C string: a NUL ends the line.
        let line = match line.iter().position(|&b| b == 0) {
            Some(nul) => line.get(..nul).unwrap_or_default(),
            None => line,
        };
        let words = split_args(line).ok_or_else(FrameError::unbalanced_quotes)?;
        if words.is_empty() {
            return Ok(Step::Empty(newline + 1));
        }
        let frame = buf.split_to(newline + 1).freeze();
        let args = words
            .into_iter()
            .map(|word| match word {
                // The range lies within the line, inside `frame`.
                Word::Raw(range) => frame.slice(range),
                Word::Unquoted(bytes) => Bytes::from(bytes),
            })
            .collect();
        Ok(Step::Request(args))
    }
}

/// Finds `needle` at or after `from` in `buf`, resuming the search at
/// `*scanned` when that is further on. When it is not found, records that the
/// whole buffer has been searched.
fn find_byte(buf: &[u8], from: usize, scanned: &mut usize, needle: u8) -> Option<usize> {
    let start = from.max(*scanned);
    let found = buf
        .get(start..)?
        .iter()
        .position(|&b| b == needle)
        .map(|i| start + i);
    *scanned = found.unwrap_or(buf.len());
    found
}

/// Redis's `string2ll`: a strict decimal `long long`. No sign but `-`, no
/// leading zeros (except `0` itself), no blanks, at most 20 characters.
fn string2ll(s: &[u8]) -> Option<i64> {
    // LONG_STR_SIZE is 21: longer strings are refused before any parsing.
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let (&first, rest) = digits.split_first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut value = u64::from(first - b'0');
    for &digit in rest {
        if !digit.is_ascii_digit() {
            return None;
        }
        value = value
            .checked_mul(10)?
            .checked_add(u64::from(digit - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(value)
            .or_else(|| (value == 1 << 63).then_some(i64::MIN))
    } else {
        i64::try_from(value).ok()
    }
}

/// One word of an inline request.
enum Word {
    /// Unquoted, so it is exactly these bytes of the line.
    Raw(Range<usize>),
    /// Quoted or escaped, so it had to be rebuilt.
    Unquoted(Vec<u8>),
}

/// `isspace` in the C locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Redis's `sdssplitargs`, byte for byte; `None` means unbalanced quotes.
///
/// `line` contains no NUL, so a NUL returned by `at` means "end of line",
/// exactly like the C string terminator the original reads.
fn split_args(line: &[u8]) -> Option<Vec<Word>> {
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut words = Vec::new();
    let mut p = 0;
    loop {
        while at(p) != 0 && is_c_space(at(p)) {
            p += 1;
        }
        if at(p) == 0 {
            return Some(words);
        }
        let start = p;
        // The word stays a slice of the line until a quote makes it differ.
        let mut raw_end = p;
        let mut rebuilt: Option<Vec<u8>> = None;
        let (mut in_double, mut in_single, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if in_double {
                let (x, h1, h2) = (at(p + 1), at(p + 2), at(p + 3));
                let out = rebuilt.get_or_insert_with(Vec::new);
                if let (b'\\', b'x', Some(hi), Some(lo)) = (c, x, hex_value(h1), hex_value(h2)) {
                    out.push(hi * 16 + lo);
                    p += 3;
                } else if c == b'\\' && x != 0 {
                    p += 1;
                    out.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        other => other,
                    });
                } else if c == b'"' {
                    // The closing quote must end the word.
                    if x != 0 && !is_c_space(x) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    out.push(c);
                }
            } else if in_single {
                let next = at(p + 1);
                let out = rebuilt.get_or_insert_with(Vec::new);
                if c == b'\\' && next == b'\'' {
                    p += 1;
                    out.push(b'\'');
                } else if c == b'\'' {
                    if next != 0 && !is_c_space(next) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    out.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' | b'\'' => {
                        in_double = c == b'"';
                        in_single = c == b'\'';
                        // Text before the quote (`ab"cd"`) belongs to the word.
                        let before = line.get(start..raw_end).unwrap_or_default();
                        rebuilt.get_or_insert_with(|| before.to_vec());
                    }
                    _ => match &mut rebuilt {
                        Some(out) => out.push(c),
                        None => raw_end = p + 1,
                    },
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        words.push(match rebuilt {
            Some(bytes) => Word::Unquoted(bytes),
            None => Word::Raw(start..raw_end),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    /// Parses everything in `input` as one buffer, returning each request's
    /// arguments as byte vectors, and what is left unconsumed.
    fn parse_all(input: &[u8]) -> (Vec<Vec<Vec<u8>>>, BytesMut) {
        let mut buf = BytesMut::from(input);
        let mut parser = RequestParser::new();
        let mut requests = Vec::new();
        while let Some(args) = parser.parse(&mut buf, &limits()).expect("valid input") {
            requests.push(args.iter().map(|a| a.to_vec()).collect());
        }
        (requests, buf)
    }

    fn one(input: &[u8]) -> Vec<Vec<u8>> {
        let (mut requests, rest) = parse_all(input);
        assert_eq!(requests.len(), 1, "input {input:?}");
        assert!(rest.is_empty(), "left over: {rest:?}");
        requests.remove(0)
    }

    fn err(input: &[u8]) -> String {
        err_with(input, &limits())
    }

    fn err_with(input: &[u8], limits: &Limits) -> String {
        let mut buf = BytesMut::from(input);
        let mut parser = RequestParser::new();
        loop {
            match parser.parse(&mut buf, limits) {
                Ok(Some(_)) => continue,
                Ok(None) => panic!("no error for {input:?}"),
                Err(e) => return e.message().to_owned(),
            }
        }
    }

    fn words(ws: &[&str]) -> Vec<Vec<u8>> {
        ws.iter().map(|w| w.as_bytes().to_vec()).collect()
    }

    #[test]
    fn multibulk_basic() {
        assert_eq!(
            one(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n"),
            words(&["SET", "k", "hello"])
        );
    }

    #[test]
    fn multibulk_empty_and_binary_args() {
        assert_eq!(
            one(b"*3\r\n$0\r\n\r\n$2\r\n\r\n\r\n$1\r\n\0\r\n"),
            vec![b"".to_vec(), b"\r\n".to_vec(), b"\0".to_vec()]
        );
    }

    #[test]
    fn multibulk_args_share_the_read_buffer() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let args = parse_request(&mut buf, &limits())
            .expect("valid")
            .expect("complete");
        assert_eq!(args[0].as_ptr() as usize, base + 8);
        assert_eq!(args[1].as_ptr() as usize, base + 17);
    }

    #[test]
    fn pipelined_requests_in_one_buffer() {
        let (requests, rest) = parse_all(b"*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$2\r\nhi\r\nECHO 'a b'\n*1\r\n$4\r\nPI");
        assert_eq!(
            requests,
            vec![
                words(&["PING"]),
                words(&["PING"]),
                words(&["ECHO", "hi"]),
                words(&["ECHO", "a b"])
            ]
        );
        assert_eq!(&rest[..], b"*1\r\n$4\r\nPI");
    }

    #[test]
    fn empty_requests_are_skipped() {
        let (requests, rest) =
            parse_all(b"*0\r\n*-1\r\n*-5\r\n\r\n   \r\n\n\t\r\n*1\r\n$4\r\nPING\r\n");
        assert_eq!(requests, vec![words(&["PING"])]);
        assert!(rest.is_empty());
        // Only empty requests: all consumed, nothing returned.
        let (requests, rest) = parse_all(b"*0\r\n\r\n");
        assert!(requests.is_empty());
        assert!(rest.is_empty());
    }

    #[test]
    fn incomplete_input_consumes_nothing() {
        for input in [
            &b"*"[..],
            b"*2",
            b"*2\r",
            b"*2\r\n",
            b"*2\r\n$3",
            b"*2\r\n$3\r",
            b"*2\r\n$3\r\nGET",
            b"*2\r\n$3\r\nGET\r",
            b"PING",
            b"PING\r",
        ] {
            let mut buf = BytesMut::from(input);
            assert_eq!(parse_request(&mut buf, &limits()), Ok(None), "{input:?}");
            assert_eq!(&buf[..], input);
        }
    }

    /// Every request, fed one byte at a time, must parse to the same thing
    /// as when fed whole, through both the stateful parser and the stateless
    /// function.
    #[test]
    fn split_at_every_byte() {
        let input: &[u8] = b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$10\r\nva\r\nl\0ue!!\r\n\r\n*0\r\nSET a \"b\\x41\\n c\" 'd\\'e'\r\nPING\n*1\r\n$4\r\nPING\r\n";
        let (expected, _) = parse_all(input);
        assert_eq!(expected.len(), 4);

        let mut parser = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut got_stateful = Vec::new();
        let mut got_stateless = Vec::new();
        let mut buf2 = BytesMut::new();
        for &byte in input {
            buf.extend_from_slice(&[byte]);
            while let Some(args) = parser.parse(&mut buf, &limits()).expect("valid") {
                got_stateful.push(args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
            buf2.extend_from_slice(&[byte]);
            while let Some(args) = parse_request(&mut buf2, &limits()).expect("valid") {
                got_stateless.push(args.iter().map(|a| a.to_vec()).collect::<Vec<_>>());
            }
        }
        assert_eq!(got_stateful, expected);
        assert_eq!(got_stateless, expected);
        assert!(buf.is_empty() && buf2.is_empty());
    }

    #[test]
    fn split_at_every_position_into_two_reads() {
        let input: &[u8] = b"*2\r\n$4\r\nECHO\r\n$5\r\nhello\r\nECHO \"x y\"\r\n";
        for cut in 0..=input.len() {
            let mut parser = RequestParser::new();
            let mut buf = BytesMut::from(&input[..cut]);
            let mut got = Vec::new();
            while let Some(args) = parser.parse(&mut buf, &limits()).expect("valid") {
                got.push(args);
            }
            buf.extend_from_slice(&input[cut..]);
            while let Some(args) = parser.parse(&mut buf, &limits()).expect("valid") {
                got.push(args);
            }
            assert_eq!(
                got,
                vec![
                    vec![Bytes::from("ECHO"), Bytes::from("hello")],
                    vec![Bytes::from("ECHO"), Bytes::from("x y")]
                ],
                "cut at {cut}"
            );
        }
    }

    #[test]
    fn redis_skips_the_bytes_after_cr_unchecked() {
        // Redis 7.0.15 answers PONG to both of these.
        assert_eq!(one(b"*1\rZ$4\r\nPING\r\n"), words(&["PING"]));
        assert_eq!(one(b"*1\r\n$4\rZPINGXY"), words(&["PING"]));
    }

    #[test]
    fn inline_plain_words() {
        assert_eq!(
            one(b"SET  key\tvalue \r\n"),
            words(&["SET", "key", "value"])
        );
        assert_eq!(one(b"PING\n"), words(&["PING"]));
        // Only the '\r' right before '\n' is the line end; others are blanks.
        assert_eq!(one(b"a\rb\r\n"), words(&["a", "b"]));
    }

    #[test]
    fn inline_quotes_and_escapes() {
        assert_eq!(
            one(b"SET k \"hello world\"\r\n"),
            words(&["SET", "k", "hello world"])
        );
        assert_eq!(
            one(b"X \"\\n\\r\\t\\b\\a\\\\\\\"\\q\\x41\\x4a\\xzz\"\r\n"),
            vec![b"X".to_vec(), b"\n\r\t\x08\x07\\\"qAJxzz".to_vec()]
        );
        assert_eq!(
            one(b"X 'it\\'s' 'a\\nb'\r\n"),
            vec![b"X".to_vec(), b"it's".to_vec(), b"a\\nb".to_vec()]
        );
        assert_eq!(
            one(b"X \"\" ''\r\n"),
            vec![b"X".to_vec(), b"".to_vec(), b"".to_vec()]
        );
        // A quote may start mid-word: the text before it is kept.
        assert_eq!(
            one(b"X ab\"c d\"\r\n"),
            vec![b"X".to_vec(), b"abc d".to_vec()]
        );
        // Redis 7.0.15 echoes "ax4" for an incomplete \x escape.
        assert_eq!(one(b"ECHO \"a\\x4\"\r\n"), words(&["ECHO", "ax4"]));
    }

    #[test]
    fn inline_nul_ends_the_line() {
        assert_eq!(one(b"ECHO a\0b c\r\n"), words(&["ECHO", "a"]));
    }

    #[test]
    fn inline_unbalanced_quotes() {
        let expected = "ERR Protocol error: unbalanced quotes in request";
        for input in [
            &b"ECHO \"abc\r\n"[..],
            b"ECHO \"abc\"d\r\n",
            b"ECHO a\"b c\"d\r\n",
            b"ECHO 'ab\r\n",
            b"ECHO 'a'b\r\n",
            b"ECHO \"a\\\"\r\n",
        ] {
            assert_eq!(err(input), expected, "{input:?}");
        }
        // Nothing is consumed on error either.
        let mut buf = BytesMut::from(&b"ECHO \"abc\r\n"[..]);
        assert!(parse_request(&mut buf, &limits()).is_err());
        assert_eq!(buf.len(), 11);
    }

    #[test]
    fn invalid_multibulk_length() {
        let expected = "ERR Protocol error: invalid multibulk length";
        for input in [
            &b"*abc\r\n"[..],
            b"*+1\r\n",
            b"*01\r\n",
            b"*\r\n",
            b"*-\r\n",
            b"* 1\r\n",
            b"*1 \r\n",
            b"*1048577\r\n",
            b"*99999999999999999999\r\n",
            b"*1Z$4\r\nPING\r\n",
        ] {
            assert_eq!(err(input), expected, "{input:?}");
        }
        // The limit is configurable and inclusive.
        let small = Limits {
            max_multibulk_len: 2,
            ..Limits::default()
        };
        assert_eq!(err_with(b"*3\r\n", &small), expected);
        let mut buf = BytesMut::from(&b"*2\r\n$1\r\na\r\n$1\r\nb\r\n"[..]);
        assert!(parse_request(&mut buf, &small).expect("valid").is_some());
    }

    #[test]
    fn invalid_bulk_length() {
        let expected = "ERR Protocol error: invalid bulk length";
        for input in [
            &b"*1\r\n$-1\r\n"[..],
            b"*1\r\n$-0\r\n",
            b"*1\r\n$ 4\r\n",
            b"*1\r\n$04\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$x\r\n",
            b"*1\r\n$536870913\r\n",
            b"*2\r\n$4\r\nECHO\r\n$-5\r\n",
        ] {
            assert_eq!(err(input), expected, "{input:?}");
        }
        // Exactly proto-max-bulk-len is allowed: it just waits for the data.
        let mut buf = BytesMut::from(&b"*1\r\n$536870912\r\n"[..]);
        assert_eq!(parse_request(&mut buf, &limits()), Ok(None));
    }

    #[test]
    fn expected_dollar() {
        assert_eq!(
            err(b"*1\r\nX4\r\nPING\r\n"),
            "ERR Protocol error: expected '$', got 'X'"
        );
        assert_eq!(
            err(b"*2\r\n$4\r\nECHO\r\n:1\r\n"),
            "ERR Protocol error: expected '$', got ':'"
        );
        // Redis 7.0.15 maps CR/LF in the message to spaces.
        assert_eq!(
            err(b"*1\r\n\r\n"),
            "ERR Protocol error: expected '$', got ' '"
        );
        assert_eq!(
            err(b"*1\r\n\n\r\n"),
            "ERR Protocol error: expected '$', got ' '"
        );
    }

    #[test]
    fn expected_dollar_waits_for_the_whole_line_like_redis() {
        let mut buf = BytesMut::from(&b"*1\r\nX4"[..]);
        assert_eq!(parse_request(&mut buf, &limits()), Ok(None));
    }

    #[test]
    fn too_big_inline_request() {
        let expected = "ERR Protocol error: too big inline request";
        let mut long = b"PING ".to_vec();
        long.resize(64 * 1024 + 1, b'x');
        assert_eq!(err(&long), expected);
        // At the limit and no line end yet: wait.
        let mut buf = BytesMut::from(&long[..64 * 1024]);
        assert_eq!(parse_request(&mut buf, &limits()), Ok(None));
        // A complete but too long line is refused too (see module docs).
        long.extend_from_slice(b"\r\n");
        assert_eq!(err(&long), expected);
        // A line of exactly the limit (counting its '\r') is fine.
        let mut ok = b"ECHO ".to_vec();
        ok.resize(64 * 1024 - 1, b'y');
        ok.extend_from_slice(b"\r\n");
        assert_eq!(one(&ok).len(), 2);
    }

    #[test]
    fn too_big_count_strings() {
        let mut mbulk = b"*1".to_vec();
        mbulk.resize(64 * 1024 + 1, b'1');
        assert_eq!(
            err(&mbulk),
            "ERR Protocol error: too big mbulk count string"
        );
        let mut bulk = b"*1\r\n$".to_vec();
        bulk.resize(4 + 64 * 1024 + 1, b'1');
        assert_eq!(err(&bulk), "ERR Protocol error: too big bulk count string");
        // With its line end present, a long count is just an invalid number.
        bulk.extend_from_slice(b"\r\n");
        assert_eq!(err(&bulk), "ERR Protocol error: invalid bulk length");
    }

    #[test]
    fn huge_bulk_header_is_refused_without_allocating() {
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"*2\r\n$3\r\nSET\r\n$600000000\r\n");
        let capacity = buf.capacity();
        assert_eq!(
            parse_request(&mut buf, &limits()).map_err(|e| e.message().to_owned()),
            Err("ERR Protocol error: invalid bulk length".to_owned())
        );
        assert_eq!(buf.capacity(), capacity);
    }

    #[test]
    fn large_announced_bulk_reserves_nothing_until_it_arrives() {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::with_capacity(64);
        buf.extend_from_slice(b"*1000000\r\n$500000000\r\nabc");
        let capacity = buf.capacity();
        for _ in 0..3 {
            assert_eq!(parser.parse(&mut buf, &limits()), Ok(None));
        }
        assert_eq!(buf.capacity(), capacity);
        assert!(parser.multibulk.is_some());
        assert!(parser.args.capacity() <= MAX_PREALLOCATED_ARGS);
    }

    #[test]
    fn parser_recovers_if_the_buffer_shrinks() {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"*2\r\n$4\r\nECHO\r\n$2\r\nh"[..]);
        assert_eq!(parser.parse(&mut buf, &limits()), Ok(None));
        let mut other = BytesMut::from(&b"PING\r\n"[..]);
        assert_eq!(
            parser.parse(&mut other, &limits()),
            Ok(Some(vec![Bytes::from("PING")]))
        );
    }

    #[test]
    fn string2ll_matches_redis() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-1"), Some(-1));
        assert_eq!(string2ll(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"00",
            b"01",
            b"+1",
            b" 1",
            b"1 ",
            b"1.0",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"123456789012345678901",
        ] {
            assert_eq!(string2ll(bad), None, "{bad:?}");
        }
    }
}
