//! Internal protocol frames: postcard encoding and decoding, no I/O.
//!
//! Every client write costs the coordinator one PREPARE (and one COMMIT)
//! frame per participant, and each participant one vote frame back, so
//! these two functions run several times per SET on both sides of the wire.
//!
//! - `rpc_frame/encode/*`: [`encode_frame`] into a reused buffer, as the
//!   client and server write paths do.
//! - `rpc_frame/decode/*`: [`decode_frame`] of one whole buffered frame; the
//!   copy of the frame into a fresh buffer is outside the timing.
//!
//! The messages are a `Prepare` of `SET` with a 16-byte value and with a
//! 4 KB value (the value is copied on decode; the key and txid cost the
//! same in both), and the `Vote(Ok)` answer. Throughput is in frame bytes,
//! length prefix included.

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use kvstore2pcsystem::command::op::{Outcome, WriteOp};
use kvstore2pcsystem::rpc::codec::{decode_frame, encode_frame};
use kvstore2pcsystem::rpc::{Request, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

mod bench_config;

fn prepare_set(value_len: usize) -> Request {
    Request::Prepare {
        txid: 1_234_567,
        op: WriteOp::Set {
            key: Bytes::from_static(b"key:000123"),
            value: Bytes::from(vec![b'v'; value_len]),
        },
    }
}

/// Benches encoding and decoding of `message` as `encode/name`, `decode/name`.
fn bench_message<T>(c: &mut Criterion, name: &str, message: &T)
where
    T: Serialize + DeserializeOwned + Clone + PartialEq + std::fmt::Debug,
{
    let mut frame = BytesMut::new();
    encode_frame(42, message, &mut frame).expect("a message in memory encodes");
    let frame = frame.freeze();
    {
        // The bench must measure a real round trip, not an error path.
        let mut check = BytesMut::from(&frame[..]);
        let decoded = decode_frame::<T>(&mut check).expect("own frame decodes");
        assert_eq!(decoded, Some((42, message.clone())));
    }

    let mut group = c.benchmark_group("rpc_frame");
    group.throughput(Throughput::Bytes(frame.len() as u64));

    let mut out = BytesMut::with_capacity(2 * frame.len());
    group.bench_function(format!("encode/{name}"), |b| {
        b.iter(|| {
            out.clear();
            encode_frame(black_box(42), message, &mut out).expect("encodes");
            black_box(&out);
        });
    });

    group.bench_function(format!("decode/{name}"), |b| {
        b.iter_batched(
            || BytesMut::from(&frame[..]),
            |mut buf| decode_frame::<T>(&mut buf).expect("decodes"),
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

fn frames(c: &mut Criterion) {
    bench_message(c, "prepare_set_16b", &prepare_set(16));
    bench_message(c, "prepare_set_4kb", &prepare_set(4096));
    bench_message(c, "vote_ok", &Response::Vote(Outcome::Ok));
}

criterion_group! {
    name = benches;
    config = bench_config::config(Duration::from_secs(1), 30);
    targets = frames
}
criterion_main!(benches);
