//! Property tests of the internal protocol's wire format (`rpc::codec`),
//! run in CI.
//!
//! - `decode_frame::<Request>` and `::<Response>` on arbitrary bytes, on
//!   well-formed length prefixes around arbitrary payloads, and on valid
//!   frames with bytes flipped, never panic, never consume bytes beyond
//!   what they decoded, and refuse lengths over the limit.
//! - Valid frames round-trip, however the bytes are cut into reads.
//! - The listening side of the handshake, fed arbitrary bytes, never
//!   panics and accepts nothing but a proper hello.
//!
//! The number of cases per property is `PROPTEST_CASES` (default 1000).

use bytes::{Bytes, BytesMut};
use kvstore2pcsystem::command::op::{
    Effect, Entry, ExpireFlags, Expiry, Outcome, ReadOp, Version, WriteOp,
};
use kvstore2pcsystem::rpc::codec::{self, CodecError, MAX_FRAME_LEN};
use kvstore2pcsystem::rpc::message::{LogEntry, ParticipantStatus, Request, Response};
use proptest::prelude::*;

mod fuzz_config;
use fuzz_config::{cases, config};
use tokio::io::AsyncWriteExt;

fn bytes() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn write_op() -> impl Strategy<Value = WriteOp> {
    prop_oneof![
        (bytes(), bytes()).prop_map(|(key, value)| WriteOp::Set { key, value }),
        prop::collection::vec(bytes(), 0..4).prop_map(|keys| WriteOp::Del { keys }),
        (any::<u64>(), bytes(), any::<i64>()).prop_map(|(now_ms, key, at)| WriteOp::At {
            now_ms,
            stamp: now_ms ^ 1,
            op: Box::new(WriteOp::Expire {
                key,
                when: Expiry::At(at),
                flags: ExpireFlags::default(),
            }),
        }),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Ok),
        any::<i64>().prop_map(Outcome::Integer),
        prop::option::of(bytes()).prop_map(Outcome::Value),
        ".{0,20}".prop_map(Outcome::Error),
    ]
}

fn log_entry() -> impl Strategy<Value = LogEntry> {
    (
        any::<u64>(),
        any::<u64>(),
        prop::collection::vec(
            (
                bytes(),
                prop::option::of(bytes()),
                prop::option::of(any::<u64>()),
            )
                .prop_map(|(key, value, expires_at)| match value {
                    Some(v) if expires_at == Some(7) => Effect::Element {
                        key,
                        version: Version { stamp: 7, seq: 1 },
                        sub: v.clone(),
                        value: Some(v),
                    },
                    value => Effect::record(&key, value.map(|v| Entry::string(v, expires_at))),
                }),
            0..3,
        ),
    )
        .prop_map(|(index, txid, effects)| LogEntry {
            index,
            txid,
            effects,
        })
}

fn request() -> impl Strategy<Value = Request> {
    prop_oneof![
        (any::<u64>(), any::<bool>())
            .prop_map(|(lease_ms, member)| Request::Heartbeat { lease_ms, member }),
        Just(Request::Status),
        (any::<u64>(), write_op()).prop_map(|(txid, op)| Request::Prepare { txid, op }),
        (any::<u64>(), any::<u64>()).prop_map(|(txid, index)| Request::Commit { txid, index }),
        (any::<u64>(), any::<Option<u64>>()).prop_map(|(txid, void)| Request::Abort { txid, void }),
        any::<u64>().prop_map(|txid| Request::Lookup { txid }),
        bytes().prop_map(|key| Request::Read {
            op: ReadOp::Get { key }
        }),
        (any::<u64>(), any::<u32>()).prop_map(|(after, limit)| Request::FetchLog { after, limit }),
        (prop::collection::vec(log_entry(), 0..3), any::<u64>())
            .prop_map(|(entries, up_to)| Request::ApplyLog { entries, up_to }),
        (prop::option::of(bytes()), any::<u32>())
            .prop_map(|(after, limit)| Request::ScanData { after, limit }),
        (
            any::<bool>(),
            prop::collection::vec((bytes(), bytes()), 0..3),
            prop::option::of(any::<u64>())
        )
            .prop_map(|(reset, pairs, finish)| Request::InstallData {
                reset,
                pairs,
                finish
            }),
        any::<u64>().prop_map(|up_to| Request::Settle { up_to }),
        Just(Request::Digest),
        (any::<u64>(), any::<u32>())
            .prop_map(|(now_ms, limit)| Request::ExpiredKeys { now_ms, limit }),
    ]
}

fn response() -> impl Strategy<Value = Response> {
    prop_oneof![
        Just(Response::Ack),
        (
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            prop::collection::vec(any::<u64>(), 0..4)
        )
            .prop_map(|(watermark, max_applied, max_txid, prepared)| {
                Response::Status(ParticipantStatus {
                    watermark,
                    max_applied,
                    max_txid,
                    prepared,
                })
            }),
        outcome().prop_map(Response::Vote),
        outcome().prop_map(Response::Read),
        prop::option::of(any::<u64>()).prop_map(Response::Committed),
        (
            prop::collection::vec(log_entry(), 0..3),
            any::<bool>(),
            any::<u64>()
        )
            .prop_map(|(entries, complete, watermark)| Response::Log {
                entries,
                complete,
                watermark
            }),
        (
            prop::collection::vec((bytes(), bytes()), 0..3),
            any::<u64>()
        )
            .prop_map(|(pairs, watermark)| Response::Data { pairs, watermark }),
        (any::<u64>(), any::<u64>(), any::<u64>()).prop_map(|(digest, keys, watermark)| {
            Response::Digest {
                digest,
                keys,
                watermark,
            }
        }),
        ".{0,20}".prop_map(Response::Error),
        prop::collection::vec(bytes(), 0..3).prop_map(Response::Keys),
    ]
}

/// Decodes frames off `buf` until it runs dry or fails, checking that each
/// step consumes only what it decoded. Returns how many decoded.
fn drain<T: serde::de::DeserializeOwned>(buf: &mut BytesMut) -> usize {
    let mut n = 0;
    loop {
        let before = buf.len();
        match codec::decode_frame::<T>(buf) {
            Ok(Some(_)) => {
                assert!(buf.len() < before, "a decoded frame consumed nothing");
                n += 1;
            }
            Ok(None) => {
                assert_eq!(buf.len(), before, "an incomplete frame consumed bytes");
                return n;
            }
            Err(CodecError::TooLarge(len)) => {
                assert!(len > MAX_FRAME_LEN);
                return n;
            }
            Err(_) => return n,
        }
    }
}

/// A frame header announcing `len` bytes, then `payload`.
fn framed(len: u32, payload: &[u8]) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&len.to_be_bytes());
    buf.extend_from_slice(payload);
    buf
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(data in prop::collection::vec(any::<u8>(), 0..512)) {
        drain::<Request>(&mut BytesMut::from(&data[..]));
        drain::<Response>(&mut BytesMut::from(&data[..]));
    }

    #[test]
    fn decoding_arbitrary_payloads_never_panics(
        payload in prop::collection::vec(any::<u8>(), 0..256),
        slack in 0u32..4,
    ) {
        // A length that matches the payload (or overshoots it a little, so
        // the frame is incomplete): the payload itself gets decoded.
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX).saturating_add(slack);
        drain::<Request>(&mut framed(len, &payload));
        drain::<Response>(&mut framed(len, &payload));
    }

    #[test]
    fn flipped_bytes_in_valid_frames_never_panic(
        requests in prop::collection::vec((any::<u64>(), request()), 1..4),
        flips in prop::collection::vec((any::<usize>(), any::<u8>()), 1..6),
    ) {
        let mut buf = BytesMut::new();
        for (id, r) in &requests {
            codec::encode_frame(*id, r, &mut buf).expect("encode");
        }
        let len = buf.len();
        for (at, xor) in flips {
            buf[at % len] ^= xor.max(1);
        }
        let copy = buf.clone();
        drain::<Request>(&mut buf);
        drain::<Response>(&mut copy.clone());
    }

    #[test]
    fn valid_frames_round_trip_in_any_pieces(
        requests in prop::collection::vec((any::<u64>(), request()), 1..5),
        responses in prop::collection::vec((any::<u64>(), response()), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let mut wire = BytesMut::new();
        for (id, r) in &requests {
            codec::encode_frame(*id, r, &mut wire).expect("encode");
        }
        let got: Vec<(u64, Request)> = decode_in_pieces(&wire, &cuts);
        prop_assert_eq!(&got, &requests);

        let mut wire = BytesMut::new();
        for (id, r) in &responses {
            codec::encode_frame(*id, r, &mut wire).expect("encode");
        }
        let got: Vec<(u64, Response)> = decode_in_pieces(&wire, &cuts);
        prop_assert_eq!(&got, &responses);
    }

    #[test]
    fn lengths_over_the_limit_are_refused(len in (MAX_FRAME_LEN + 1)..=u32::MAX) {
        let mut buf = framed(len, b"x");
        prop_assert!(matches!(
            codec::decode_frame::<Request>(&mut buf),
            Err(CodecError::TooLarge(l)) if l == len
        ));
    }
}

fn decode_in_pieces<T: serde::de::DeserializeOwned>(wire: &[u8], cuts: &[usize]) -> Vec<(u64, T)> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(wire.len());
    points.sort_unstable();
    let mut buf = BytesMut::new();
    let mut got = Vec::new();
    let mut at = 0;
    for point in points {
        buf.extend_from_slice(&wire[at..point]);
        at = point;
        while let Some(frame) = codec::decode_frame::<T>(&mut buf).expect("valid frames") {
            got.push(frame);
        }
    }
    assert!(buf.is_empty());
    got
}

proptest! {
    // Each case runs an async handshake: fewer of them.
    #![proptest_config(ProptestConfig { cases: cases().div_ceil(4), ..config() })]

    #[test]
    fn the_handshake_refuses_arbitrary_bytes(
        data in prop::collection::vec(any::<u8>(), 0..120),
        secret in prop::option::of(prop::collection::vec(any::<u8>(), 1..16)),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let proper_hello = data.len() >= 8
            && data[..4] == codec::MAGIC
            && data[4..6] == codec::PROTOCOL_VERSION.to_be_bytes();
        let result = runtime.block_on(async move {
            let (mut a, mut b) = tokio::io::duplex(1024);
            let secret_ref = secret.clone();
            let accept = tokio::spawn(async move {
                codec::handshake_accept(&mut b, secret_ref.as_deref()).await
            });
            let _ = a.write_all(&data).await;
            drop(a);
            accept.await.expect("no panic")
        });
        // Without a proper hello it must fail; with a secret, random bytes
        // can never carry a valid proof.
        if !proper_hello {
            prop_assert!(result.is_err());
        }
        if let Ok(()) = result {
            prop_assert!(proper_hello);
        }
    }
}

/// Regressions and edges.
#[test]
fn frame_edges() {
    for input in [
        &[][..],
        &[0, 0, 0, 0],
        &[0, 0, 0, 1, 0],
        &[0, 0, 0, 1, 0xff],
        &[0, 0, 0, 2, 0, 0],
        &[0xff, 0xff, 0xff, 0xff],
        &[0x25, 0x80, 0x00, 0x00],
        &[0x25, 0x80, 0x00, 0x01],
        &[
            0, 0, 0, 11, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x00,
        ],
        &[0, 0, 0, 6, 1, 8, 0xff, 0xff, 0xff, 0x0f],
    ] {
        drain::<Request>(&mut BytesMut::from(input));
        drain::<Response>(&mut BytesMut::from(input));
    }
}
