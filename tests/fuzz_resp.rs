//! Property tests of the RESP request framing (`resp::frame`) and of the
//! connection that drives it (`resp::connection`), run in CI.
//!
//! - Arbitrary bytes, cut into arbitrary reads, never make the parser panic,
//!   under Redis's limits and under tiny ones that every input hits.
//! - Where the limits are not in play (inputs far below them), how the bytes
//!   are cut into reads never changes what is parsed: the stateful parser
//!   fed piece by piece, and the stateless function, both give exactly what
//!   one parse of the whole buffer gives, error included.
//! - Valid encodings round-trip: multibulk requests of arbitrary binary
//!   arguments, plain inline requests, and inline requests whose arguments
//!   are written in double quotes with `\xHH` escapes.
//! - A connection fed arbitrary bytes never panics and never buffers more
//!   unparsed input than its query-buffer limit.
//!
//! The number of cases per property is `PROPTEST_CASES` (default 1000).

use bytes::{Bytes, BytesMut};
use kvstore2pcsystem::resp::connection::{Connection, ConnectionError};
use kvstore2pcsystem::resp::frame::{FrameError, Limits, RequestParser, parse_request};
use kvstore2pcsystem::resp::reply::{Protocol, Reply, Style};
use proptest::prelude::*;

mod fuzz_config;
use fuzz_config::{cases, config};
use tokio::io::AsyncWriteExt;

/// Limits small enough that short inputs run into every one of them.
fn tiny_limits() -> Limits {
    Limits {
        max_bulk_len: 32,
        max_multibulk_len: 4,
        max_inline_len: 16,
        max_query_buffer: 64,
    }
}

/// What a parse run produced: every request, then how it stopped.
type Run = (Vec<Vec<Bytes>>, Result<(), FrameError>);

/// Parses `input` fed in pieces cut at `cuts` (offsets, any order), through
/// one long-lived parser; stops at the first error. Returns what was parsed
/// and what is left unconsumed.
fn parse_in_pieces(input: &[u8], cuts: &[usize], limits: &Limits) -> (Run, BytesMut) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut at = 0;
    for point in points {
        buf.extend_from_slice(&input[at..point]);
        at = point;
        loop {
            match parser.parse(&mut buf, limits) {
                Ok(Some(args)) => requests.push(args),
                Ok(None) => break,
                Err(e) => return ((requests, Err(e)), buf),
            }
        }
    }
    ((requests, Ok(())), buf)
}

/// The same with the stateless `parse_request`.
fn parse_in_pieces_stateless(input: &[u8], cuts: &[usize], limits: &Limits) -> Run {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut buf = BytesMut::new();
    let mut requests = Vec::new();
    let mut at = 0;
    for point in points {
        buf.extend_from_slice(&input[at..point]);
        at = point;
        loop {
            match parse_request(&mut buf, limits) {
                Ok(Some(args)) => requests.push(args),
                Ok(None) => break,
                Err(e) => return (requests, Err(e)),
            }
        }
    }
    (requests, Ok(()))
}

/// Bytes biased towards RESP's own alphabet, so that the parser gets deep
/// into headers and quoting rather than failing on the first byte.
fn resp_ish() -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        4 => prop::sample::select(b"*$\r\n0123456789- \"'\\xabAZ\t".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(byte, 0..512)
}

/// Arbitrary bytes, or RESP-looking ones.
fn input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![prop::collection::vec(any::<u8>(), 0..512), resp_ish()]
}

fn encode_multibulk(args: &[Vec<u8>], out: &mut Vec<u8>) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// An inline line whose every argument is double-quoted, with each byte
/// that is not a plain letter or digit written as `\xHH`.
fn encode_quoted_inline(args: &[Vec<u8>], out: &mut Vec<u8>) {
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.push(b'"');
        for &b in arg {
            if b.is_ascii_alphanumeric() {
                out.push(b);
            } else {
                out.extend_from_slice(format!("\\x{b:02x}").as_bytes());
            }
        }
        out.push(b'"');
    }
    out.extend_from_slice(b"\r\n");
}

fn owned(requests: &[Vec<Bytes>]) -> Vec<Vec<Vec<u8>>> {
    requests
        .iter()
        .map(|r| r.iter().map(|a| a.to_vec()).collect())
        .collect()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_bytes_in_arbitrary_pieces_never_panic(
        data in input(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        for limits in [Limits::default(), tiny_limits()] {
            let ((requests, _), rest) = parse_in_pieces(&data, &cuts, &limits);
            // Nothing is invented: every argument is at most as long as
            // the input, and so is what is left.
            for args in &requests {
                prop_assert!(!args.is_empty());
                for arg in args {
                    prop_assert!(arg.len() <= data.len());
                }
            }
            prop_assert!(rest.len() <= data.len());
            let _ = parse_in_pieces_stateless(&data, &cuts, &limits);
        }
    }

    #[test]
    fn how_input_is_cut_never_changes_what_is_parsed(
        data in input(),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        // Inputs of at most 512 bytes never reach the default limits, so
        // the outcome may depend on the bytes only.
        let limits = Limits::default();
        let (whole, _) = parse_in_pieces(&data, &[], &limits);
        let (pieces, _) = parse_in_pieces(&data, &cuts, &limits);
        let stateless = parse_in_pieces_stateless(&data, &cuts, &limits);
        prop_assert_eq!(&pieces, &whole);
        prop_assert_eq!(&stateless, &whole);
    }

    #[test]
    fn multibulk_requests_round_trip(
        requests in prop::collection::vec(
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..6),
            1..6,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut wire = Vec::new();
        for args in &requests {
            encode_multibulk(args, &mut wire);
        }
        let ((got, end), rest) = parse_in_pieces(&wire, &cuts, &Limits::default());
        prop_assert_eq!(end, Ok(()));
        prop_assert!(rest.is_empty());
        prop_assert_eq!(owned(&got), requests);
    }

    #[test]
    fn inline_requests_round_trip(
        requests in prop::collection::vec(
            prop::collection::vec("[A-Za-z0-9_.:-]{1,12}", 1..6),
            1..6,
        ),
        quoted in prop::collection::vec(
            prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..5),
            0..4,
        ),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut wire = Vec::new();
        let mut want: Vec<Vec<Vec<u8>>> = Vec::new();
        for words in &requests {
            wire.extend_from_slice(words.join(" ").as_bytes());
            wire.extend_from_slice(b"\r\n");
            want.push(words.iter().map(|w| w.as_bytes().to_vec()).collect());
        }
        for args in &quoted {
            encode_quoted_inline(args, &mut wire);
            want.push(args.clone());
        }
        let ((got, end), rest) = parse_in_pieces(&wire, &cuts, &Limits::default());
        prop_assert_eq!(end, Ok(()));
        prop_assert!(rest.is_empty());
        prop_assert_eq!(owned(&got), want);
    }

    #[test]
    fn reply_encoding_never_panics(
        text in ".{0,40}",
        data in prop::collection::vec(any::<u8>(), 0..40),
        n in any::<i64>(),
        x in any::<f64>(),
    ) {
        let replies = [
            Reply::Simple(text.clone().into()),
            Reply::Error(text.clone()),
            Reply::Integer(n),
            Reply::Bulk(Bytes::from(data.clone())),
            Reply::Nil,
            Reply::NilArray,
            Reply::Double(x),
            Reply::Boolean(n % 2 == 0),
            Reply::Verbatim { format: *b"txt", text: Bytes::from(data.clone()) },
            Reply::Array(vec![Reply::Bulk(Bytes::from(data.clone())), Reply::Nil]),
            Reply::Map(vec![(Reply::Simple(text.clone().into()), Reply::Integer(n))]),
            Reply::Set(vec![Reply::Error(text.clone())]),
        ];
        for reply in &replies {
            for style in [Style::Redis(Protocol::Resp2), Style::Redis(Protocol::Resp3), Style::Lab] {
                let mut out = BytesMut::new();
                reply.encode(style, &mut out);
                prop_assert!(!out.is_empty());
            }
        }
    }
}

proptest! {
    // Each case runs a small async exchange: fewer of them.
    #![proptest_config(ProptestConfig { cases: cases().div_ceil(4), ..config() })]

    #[test]
    fn a_connection_fed_arbitrary_bytes_never_panics(
        data in input(),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let limits = tiny_limits();
        let max_buffered = runtime.block_on(async move {
            let (mut client, server) = tokio::io::duplex(1 << 16);
            let mut conn = Connection::new(server, limits);
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            points.push(data.len());
            points.sort_unstable();
            let writer = tokio::spawn(async move {
                let mut at = 0;
                for point in points {
                    if client.write_all(&data[at..point]).await.is_err() {
                        return;
                    }
                    at = point;
                    tokio::task::yield_now().await;
                }
                // Dropping `client` ends the input.
            });
            let mut requests = 0usize;
            let end = loop {
                match conn.read_request().await {
                    Ok(Some(args)) => {
                        requests += 1;
                        conn.queue(&Reply::Integer(i64::try_from(args.len()).unwrap_or(0)), Style::default());
                    }
                    Ok(None) => break None,
                    Err(ConnectionError::Protocol(text)) => {
                        conn.queue(&Reply::Error(text.clone()), Style::default());
                        break Some(text);
                    }
                    Err(_) => break None,
                }
            };
            // The output may have nowhere to go (the client end is gone).
            let _ = writer.await;
            let _ = (requests, end);
            conn.pending_output()
        });
        // Replies are queued in small amounts, so what is pending is small.
        prop_assert!(max_buffered < 1 << 20);
    }
}

/// Regression cases kept from the fuzzing above, and limit edges.
#[test]
fn regressions_and_limit_edges() {
    let limits = tiny_limits();
    for input in [
        &b""[..],
        b"\0",
        b"*",
        b"*\r",
        b"*\r\n",
        b"*1\r\n$",
        b"*1\r\n$\r\n",
        b"*-9223372036854775808\r\n",
        b"*9223372036854775807\r\n",
        b"*1\r\n$9223372036854775807\r\n",
        b"*1\r\n$18446744073709551615\r\n",
        b"*4\r\n$32\r\n",
        b"\"",
        b"'",
        b"\"\\",
        b"\"\\x",
        b"\"\\x4",
        b"a\"b\"\r\n",
        b"\r",
        b"\r\r\r\n",
        b"\n\n\n",
    ] {
        for cut in 0..=input.len() {
            let _ = parse_in_pieces(input, &[cut], &limits);
            let _ = parse_in_pieces(input, &[cut], &Limits::default());
        }
    }
}
