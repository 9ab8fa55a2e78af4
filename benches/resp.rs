//! RESP front end: request framing and reply encoding, no I/O.
//!
//! Every client command crosses these two functions, on the connection's
//! task, before and after any replication work. `redis-benchmark -P` and the
//! Lab tester pipeline many requests per read, so the unit measured is a
//! pipelined batch of 1000:
//!
//! - `resp_parse`: 1000 `SET key:N <16-byte value>` multibulk requests in one
//!   buffer, taken apart one request at a time, with the stateless
//!   [`parse_request`] and with a long-lived [`RequestParser`] (what a
//!   connection uses). The buffer is copied in outside the timing; freezing
//!   and splitting it per request, and dropping each request's arguments,
//!   are inside.
//! - `resp_encode`: 1000 replies of one kind (`+OK`, a 16-byte bulk, nil)
//!   appended to a reused output buffer, in the Redis RESP2 and Lab
//!   dialects (the Lab dialect wraps bulks and nil in a one-element array).
//!
//! Throughput is in elements: requests parsed, or replies encoded, per
//! second.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kvstore2pcsystem::resp::{Limits, Protocol, Reply, RequestParser, Style, parse_request};

mod bench_config;

/// Requests or replies per measured batch.
const BATCH: usize = 1000;
/// Length of every value, in bytes.
const VALUE_LEN: usize = 16;

/// `BATCH` pipelined `SET key:N <value>` requests, as a client sends them.
fn pipelined_sets() -> Vec<u8> {
    let value = [b'v'; VALUE_LEN];
    let mut out = Vec::new();
    for n in 0..BATCH {
        let key = format!("key:{n}");
        out.extend_from_slice(b"*3\r\n$3\r\nSET\r\n");
        out.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
        out.extend_from_slice(format!("${VALUE_LEN}\r\n").as_bytes());
        out.extend_from_slice(&value);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn parse(c: &mut Criterion) {
    let input = pipelined_sets();
    let limits = Limits::default();
    let mut group = c.benchmark_group("resp_parse");
    group.throughput(Throughput::Elements(BATCH as u64));

    group.bench_function("parse_request/set_x1000", |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
            |mut buf| {
                let mut parsed = 0;
                while let Some(args) = parse_request(&mut buf, &limits).expect("valid input") {
                    black_box(args);
                    parsed += 1;
                }
                assert_eq!(parsed, BATCH, "every request is whole");
            },
            BatchSize::SmallInput,
        );
    });

    let mut parser = RequestParser::new();
    group.bench_function("request_parser/set_x1000", |b| {
        b.iter_batched(
            || BytesMut::from(&input[..]),
            |mut buf| {
                let mut parsed = 0;
                while let Some(args) = parser.parse(&mut buf, &limits).expect("valid input") {
                    black_box(args);
                    parsed += 1;
                }
                assert_eq!(parsed, BATCH, "every request is whole");
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn encode(c: &mut Criterion) {
    let kinds = [
        ("ok", Reply::ok()),
        (
            "bulk16",
            Reply::bulk(Bytes::from_static(&[b'v'; VALUE_LEN])),
        ),
        ("nil", Reply::Nil),
    ];
    let styles = [
        ("resp2", Style::Redis(Protocol::Resp2)),
        ("lab", Style::Lab),
    ];
    let mut group = c.benchmark_group("resp_encode");
    group.throughput(Throughput::Elements(BATCH as u64));
    for (style_name, style) in styles {
        for (kind_name, reply) in &kinds {
            let replies = vec![reply.clone(); BATCH];
            // Reused across iterations, like a connection's output buffer.
            let mut out = BytesMut::with_capacity(64 * 1024);
            group.bench_function(format!("{style_name}/{kind_name}_x1000"), |b| {
                b.iter(|| {
                    out.clear();
                    for reply in &replies {
                        reply.encode(style, &mut out);
                    }
                    black_box(&out);
                });
            });
        }
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = bench_config::config(Duration::from_secs(1), 30);
    targets = parse, encode
}
criterion_main!(benches);
